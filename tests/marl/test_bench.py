"""Benchmark suites end to end (joblib and submitit launchers, skip and resume) and `marl report` over them."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from marl.running import bench, report
from marl.running.cli import main

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "suite_tiny.yaml"  # 2 algorithms x 2 tasks x 2 seeds, 256 steps
CELLS = [(t, a, s) for t in ("spread", "spread_continuous") for a in ("ippo", "mappo") for s in (0, 1)]


def marl(*args: str) -> int:
    """`marl ARGS` in this process (the launchers' workers are processes of their own); its exit status."""
    try:
        main(list(args))
    except SystemExit as exit_:
        return exit_.code or 0
    return 0


def evaluations(run_dir: Path) -> dict:
    layout = json.loads((run_dir / "results.json").read_text())
    ((task, algos),) = layout["mpe"].items()
    ((algo, seeds),) = algos.items()
    ((seed, evaluations),) = seeds.items()
    assert (task, algo, seed) == (run_dir.parts[-3], run_dir.parts[-2], run_dir.name)
    return evaluations


@pytest.fixture(scope="module")
def suite_dir(tmp_path_factory) -> Path:
    """The tiny suite run with joblib (2 workers), then re-run longer through submitit's local executor."""
    out = tmp_path_factory.mktemp("suite") / "tiny"
    assert marl("bench", f"suite={TINY}", "launcher=joblib", "workers=2", f"out={out}") == 0
    for task, algo, seed in CELLS:
        run = evaluations(out / task / algo / f"seed_{seed}")
        assert [run[f"step_{i}"]["step_count"] for i in range(3)] == [0, 128, 256]
        assert len(run["step_2"]["return"]) == 2 and len(run["absolute_metrics"]["return"]) == 20
    # a longer budget: every cell resumes from its checkpoint, each job a submitit process
    assert marl("bench", f"suite={TINY}", "launcher=submitit_local", f"out={out}", "total_steps=384") == 0
    assert list((out / ".submitit").iterdir())  # submitit's job folders
    return out


@pytest.mark.slow
def test_a_suite_runs_every_cell_as_a_run_directory_and_resumes_them(suite_dir):
    for task, algo, seed in CELLS:
        run_dir = suite_dir / task / algo / f"seed_{seed}"
        steps = [v["step_count"] for k, v in evaluations(run_dir).items() if k.startswith("step_")]
        assert steps == [0, 128, 256, 384]  # the first three kept, one more after resuming
        config = (run_dir / "config.yaml").read_text()
        assert f"task_name: {task}" in config and "final_eval_episodes: 20" in config
        assert ("continuous_actions: true" in config) == (task == "spread_continuous")
        assert (run_dir / "checkpoints" / "last.pt").is_file()
    assert (suite_dir / "suite.yaml").is_file()


@pytest.mark.slow
def test_a_finished_suite_is_skipped_cell_by_cell(suite_dir, capsys):
    assert marl("bench", f"suite={TINY}", "tasks=spread", f"out={suite_dir}", "total_steps=384") == 0
    assert capsys.readouterr().out.count("nothing to do") == 4


@pytest.mark.slow
def test_report_writes_the_markdown_csv_merged_json_and_plots(suite_dir, tmp_path):
    assert marl("report", str(suite_dir), "--out", str(tmp_path / "report"), "--reps", "200") == 0
    text = (tmp_path / "report" / "report.md").read_text()
    assert "8 runs; 8 finished" in text and "Incomplete" not in text
    for heading in ("## Per task", "## Aggregate normalised score", "| mappo | ippo |"):
        assert heading in text
    plots = sorted(p.name for p in (tmp_path / "report" / "plots").glob("*.png"))
    assert plots == [
        "aggregates.png",
        "per_task.png",
        "performance_profiles.png",
        "probability_of_improvement.png",
        "sample_efficiency.png",
    ]
    rows = (tmp_path / "report" / "summary.csv").read_text().splitlines()
    assert len(rows) == 9 and rows[0].startswith("task,env,algo,seed,final_return,normalised")
    # the merged marl-eval file reads back to the same report
    merged = tmp_path / "merged"
    merged.mkdir()
    shutil.copy(tmp_path / "report" / report.MERGED, merged)
    shutil.copy(suite_dir / "suite.yaml", merged)
    again, _ = report.build(report.load([merged]), reps=200)
    first, _ = report.build(report.load([suite_dir]), reps=200)
    assert again == first


@pytest.mark.slow
def test_an_incomplete_grid_is_reported_as_incomplete(suite_dir, tmp_path, capsys):
    partial = tmp_path / "partial"
    shutil.copytree(
        suite_dir, partial, ignore=shutil.ignore_patterns("checkpoints", "tensorboard", ".submitit")
    )
    shutil.rmtree(partial / "spread" / "mappo" / "seed_1")
    unfinished = partial / "spread_continuous" / "ippo" / "seed_0" / "results.json"
    layout = json.loads(unfinished.read_text())
    del layout["mpe"]["spread_continuous"]["ippo"]["seed_0"]["absolute_metrics"]
    unfinished.write_text(json.dumps(layout))
    assert marl("report", str(partial), "--no-plots", "--reps", "100") == 1
    assert "grid incomplete: 2 runs missing" in capsys.readouterr().out
    text = (partial / "report.md").read_text()
    assert "**Incomplete grid: 2 of 8 runs missing or unfinished**" in text
    assert "- spread / mappo / seed_1" in text and "- spread_continuous / ippo / seed_0" in text
    assert "## Aggregate" not in text  # neither task is complete


def test_intervals_equal_rliables_own_functions_on_a_fixed_score_matrix():
    from rliable import library, metrics

    rng = np.random.default_rng(7)
    scores = {"x": rng.random((5, 3)), "y": rng.random((5, 3)) * 0.8}
    state = np.random.get_state()
    point, ci = report.interval_estimates(scores, report.aggregates, reps=300, seed=11)
    assert all(
        a == b for a, b in zip(state, np.random.get_state(), strict=True) if not isinstance(a, np.ndarray)
    )
    assert np.array_equal(state[1], np.random.get_state()[1])  # the global generator is left as it was

    def direct(x):
        return np.array(
            [
                metrics.aggregate_iqm(x),
                metrics.aggregate_mean(x),
                metrics.aggregate_median(x),
                metrics.aggregate_optimality_gap(x),
            ]
        )

    np.random.seed(11)
    want_point, want_ci = library.get_interval_estimates(scores, direct, reps=300)
    for algo in scores:
        np.testing.assert_array_equal(point[algo], want_point[algo])
        np.testing.assert_array_equal(ci[algo], want_ci[algo])
        assert point[algo][0] == pytest.approx(stats.trim_mean(scores[algo], 0.25, axis=None))
    again = report.interval_estimates(scores, report.aggregates, reps=300, seed=11)
    np.testing.assert_array_equal(again[1]["x"], ci["x"])


def test_suite_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="Did you mean 'mpe'"):
        bench.load_suite("mpee")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "algos: [ippo]\ntasks: {a: {env: mpe/simple_spread}}\nseeds: [0]\nreport: {improvement: [[ippo, x]]}\n"
    )
    with pytest.raises(ValueError, match="improvement pairs"):
        bench.load_suite(str(bad))
    bad.write_text("algos: [ippo]\ntasks: {a: {env: mpe/simple_spread}}\nseeds: [0]\ntotal_step: 5\n")
    with pytest.raises(ValueError, match="total_step"):
        bench.load_suite(str(bad))
    with pytest.raises(ValueError, match="Did you mean 'slurm'"):
        bench.multirun_overrides(bench.load_suite("mpe"), tmp_path, "slurn", None)


def test_every_shipped_suite_loads_and_writes_its_task_configs(tmp_path):
    for name in bench.list_suites():
        suite = bench.load_suite(name)
        bench.prepare(suite, name, tmp_path / name)
        assert sorted(p.stem for p in (tmp_path / name / "configs" / "task").glob("*.yaml")) == sorted(
            suite.tasks
        )
    overrides = bench.multirun_overrides(bench.load_suite("mpe"), tmp_path, "slurm", None)
    assert "hydra/launcher=slurm" in overrides and "hydra.launcher.timeout_min=120" in overrides


def test_launcher_slurm_is_hydras_submitit_slurm_launcher_with_our_defaults():
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from marl.running.config import config_dir, register_schemas

    register_schemas()
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(config_dir()), version_base=None):
        overrides = ["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "hydra.launcher.gpus_per_node=1"]
        launcher = compose("config", overrides=overrides, return_hydra_config=True).hydra.launcher
    GlobalHydra.instance().clear()
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.partition, launcher.gpus_per_node, launcher.timeout_min) == ("gpu", 1, 60)
