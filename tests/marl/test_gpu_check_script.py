"""`benchmarks/gpu_check.sh --device cpu --quick`: the one GPU command, dry-run on the CPU, so that its first
run on a GPU does not fail on a typo. The `gpu` tests run on the CPU (MARL_CHECK_DEVICE=cpu), and both speed
benchmarks write their rows, naming the machine."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_check_script_dry_run_on_the_cpu(tmp_path):
    done = subprocess.run(
        [
            "bash",
            str(ROOT / "benchmarks" / "gpu_check.sh"),
            "--device",
            "cpu",
            "--quick",
            "--results",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    tests = (tmp_path / "tests.txt").read_text()
    assert tests.startswith("Machine: ") and " passed" in tests and "failed" not in tests
    assert "| cpu | 16 |" in (tmp_path / "mpe_speed.md").read_text()
    assert "Machine: " in (tmp_path / "mpe_speed.md").read_text()
    pathfinding = (tmp_path / "pathfinding_speed.md").read_text()
    assert pathfinding.startswith("Ours on cpu.") and "| default allocator | 16 | 16x16 | 4 |" in pathfinding


def test_gpu_check_script_rejects_unknown_arguments():
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--devcie", "cuda"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2 and "unknown argument '--devcie'" in done.stderr
