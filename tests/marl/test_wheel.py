"""A non-editable install carries what `marl` needs from the top of the repository: configs and benchmarks."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["pyproject.toml", "README.md", "marl", "envs", "algos", "configs", "maps", "benchmarks"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The project built into a wheel from a clean copy and installed with `pip install --target`."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "results")
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, symlinks=True, ignore=ignore)
        else:
            shutil.copy(ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", tmp / "dist", source], check=True
    )
    (wheel,) = (tmp / "dist").glob("*.whl")
    subprocess.run(
        [*pip, "install", "--no-deps", "--no-compile", "--target", tmp / "site", wheel], check=True
    )
    return tmp / "site"


def marl_command(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`marl ARGS` from the installed copy only: the repository is neither the working directory nor on
    the path."""
    env = dict(os.environ, PYTHONPATH=str(site))
    code = "import sys, marl; print('marl from', marl.__file__); from marl.running.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_marl_bench_lists_and_runs_the_benchmarks_of_an_installed_wheel(installed, tmp_path):
    shipped = sorted(p.name for p in (installed / "marl" / "benchmarks").glob("*"))
    assert shipped == sorted(p.name for p in (ROOT / "benchmarks").glob("*.py"))
    listing = marl_command(installed, "bench", "--list", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert f"marl from {installed / 'marl' / '__init__.py'}" in listing.stdout
    assert "train_speed" in listing.stdout and "Training throughput" in listing.stdout
    assert marl_command(installed, "bench", cwd=tmp_path).stdout == listing.stdout
    help_ = marl_command(installed, "bench", "train_speed", "--help", cwd=tmp_path)
    assert help_.returncode == 0 and "Training throughput" in help_.stdout, help_.stderr


@pytest.mark.slow
def test_marl_bench_runs_a_suite_and_marl_report_reports_it_from_an_installed_wheel(installed, tmp_path):
    shipped = installed / "marl" / "configs"
    assert (shipped / "suite" / "mpe.yaml").is_file() and (
        shipped / "hydra" / "launcher" / "slurm.yaml"
    ).is_file()
    listing = marl_command(installed, "bench", cwd=tmp_path)
    assert "suites:" in listing.stdout and "mpe " in listing.stdout, listing.stderr
    suite, out = ROOT / "tests" / "data" / "suite_tiny.yaml", tmp_path / "tiny"
    # one of the suite's two tasks, one training iteration per run
    ran = marl_command(
        installed, "bench", f"suite={suite}", "tasks=spread", f"out={out}", "total_steps=128", cwd=tmp_path
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert f"marl from {installed / 'marl' / '__init__.py'}" in ran.stdout
    cells = sorted(p.parent.parent.name for p in (out / "spread").glob("*/seed_*/results.json"))
    assert cells == ["ippo", "ippo", "mappo", "mappo"]
    reported = marl_command(installed, "report", str(out), "--no-plots", "--reps", "50", cwd=tmp_path)
    assert reported.returncode == 1 and "grid incomplete: 4 runs missing" in reported.stdout, reported.stderr
    text = (out / "report.md").read_text()
    assert (
        "Incomplete grid: 4 of 8 runs" in text and "## Aggregate normalised score (1 tasks x 2 runs)" in text
    )
