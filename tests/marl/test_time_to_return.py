"""benchmarks/time_to_return.py: the window return, the crossing, the run record and the summary, on recorded fake
runners (the peers' virtual environments are not needed)."""

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_driver():
    spec = importlib.util.spec_from_file_location("time_to_return", ROOT / "benchmarks" / "time_to_return.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ttr = load_driver()


def reports(*pairs):
    return [
        {"seconds": float(i + 1), "steps": float(s), "return": float(r)} for i, (s, r) in enumerate(pairs)
    ]


def test_the_window_return_weights_each_report_by_the_steps_it_covers():
    records = reports((1000, -30), (2000, -20), (4000, -10))
    assert ttr.window_return(records, 0, 2000) is None  # the window is not full yet
    assert ttr.window_return(records, 1, 2000) == pytest.approx(-25)
    # the last 2,000 steps are the third report alone; a report only partly inside the window is left out
    assert ttr.window_return(records, 2, 2000) == pytest.approx(-10)
    assert ttr.window_return(records, 2, 3000) == pytest.approx((-20 * 1000 - 10 * 2000) / 3000)
    assert ttr.window_return(records, 2, 2500) == pytest.approx(-10)
    assert ttr.window_return(records, 2, 4000) == pytest.approx((-30 * 1000 - 20 * 1000 - 10 * 2000) / 4000)


def test_the_crossing_is_the_first_full_window_at_or_above_the_threshold():
    records = reports(
        (500, -30), (1000, -30), (1500, -14), (2000, -30), (2500, -20), (3000, -20), (3500, -20)
    )
    # the lucky report at 1,500 steps does not cross alone: its window holds the two bad ones before it
    assert ttr.first_crossing(records, -21, 1500) == {"seconds": 7.0, "steps": 3500.0, "window_return": -20.0}
    assert ttr.first_crossing(records, -21.5, 1500)["steps"] == 2500.0  # (-14 - 30 - 20) / 3
    assert ttr.first_crossing(records, -19, 1500) is None
    assert ttr.first_crossing(records, -14, 500)["steps"] == 1500.0  # a window of one report


def test_runner_lines_become_reports_and_anything_else_is_skipped():
    assert ttr.parse_report('{"steps": 512, "return": -25.5, "episodes": 16}\n', 3.21) == {
        "seconds": 3.21,
        "steps": 512.0,
        "return": -25.5,
    }
    bar = '  0%|          | 0/16667 [00:00<?, ?it/s]{"steps": 6000, "return": -25.7}'  # BenchMARL's tqdm
    assert ttr.parse_report(bar, 9.0) == {"seconds": 9.0, "steps": 6000.0, "return": -25.7}
    for line in (
        '{"config": {"LR": 0.002}}',
        "Importing submoduled environments...",
        '{"steps": 6000, "return": NaN}',
    ):
        assert ttr.parse_report(line, 1.0) is None


FAKE_RUNNER = """
import json, sys, time
for line in open(sys.argv[1]):
    print(line.strip(), flush=True)
    time.sleep(0.01)
"""


def fake_args(tmp_path, log_lines, **overrides):
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(log_lines) + "\n")
    runner = tmp_path / "runner.py"
    runner.write_text(FAKE_RUNNER)
    values = {
        "num_envs": 16,
        "threshold": -22.0,
        "window": 1000,
        "cap_seconds": 60.0,
        "marl_python": sys.executable,
        "out": tmp_path / "out",
    }
    values.update(overrides)
    return argparse.Namespace(**values), [sys.executable, str(runner), str(log)]


def test_a_run_stops_at_the_threshold_and_records_where(tmp_path, monkeypatch):
    lines = ['{"config": {}}'] + [
        json.dumps({"steps": 500 * (i + 1), "return": -30 + 2 * i}) for i in range(10)
    ]
    args, argv = fake_args(tmp_path, lines)
    monkeypatch.setattr(ttr, "command", lambda library, seed, args: argv)
    record = ttr.run_one("marl", 1, args)
    # windows of two reports: (-24 - 22) / 2 = -23 at 2,500 steps, (-22 - 20) / 2 = -21 at 3,000 steps
    assert record["reached"] and record["stopped"] == "threshold"
    assert record["steps_to_threshold"] == 3000 and record["window_return_at_crossing"] == pytest.approx(-21)
    assert len(record["reports"]) == 6 and record["steps"] == 3000  # stopped there: the rest is never read
    assert 0 < record["first_report_seconds"] <= record["seconds_to_threshold"] <= record["seconds"]
    assert record["library"] == "marl" and record["seed"] == 1 and len(record["load_average_before"]) == 3


def test_a_run_that_never_reaches_the_threshold_or_fails_says_so(tmp_path, monkeypatch):
    lines = [json.dumps({"steps": 500 * (i + 1), "return": -30}) for i in range(4)]
    args, argv = fake_args(tmp_path, lines)
    monkeypatch.setattr(ttr, "command", lambda library, seed, args: argv)
    record = ttr.run_one("jaxmarl", 0, args)
    assert not record["reached"] and record["stopped"] == "the runner exited"
    assert record["seconds_to_threshold"] is None and record["last_window_return"] == pytest.approx(-30)

    monkeypatch.setattr(
        ttr, "command", lambda library, seed, args: [sys.executable, "-c", "import sys; sys.exit(3)"]
    )
    failed = ttr.run_one("benchmarl", 0, args)
    assert failed["stopped"] == "the runner failed (exit 3)" and failed["reports"] == []


def test_a_run_is_stopped_at_the_cap(tmp_path, monkeypatch):
    args, _ = fake_args(tmp_path, [], cap_seconds=1.0)
    slow = [
        sys.executable,
        "-c",
        'import time; print(\'{"steps": 10, "return": -40}\', flush=True); time.sleep(60)',
    ]
    monkeypatch.setattr(ttr, "command", lambda library, seed, args: slow)
    record = ttr.run_one("marl", 0, args)
    assert record["stopped"] == "cap" and not record["reached"] and record["seconds"] < 30
    assert record["reports"][0]["steps"] == 10


def test_the_summary_and_table_give_medians_over_the_runs_that_reached(tmp_path):
    def result(library, seed, seconds, steps):
        return {
            "library": library,
            "seed": seed,
            "reached": seconds is not None,
            "seconds_to_threshold": seconds,
            "steps_to_threshold": steps,
            "steps": steps or 500,
            "first_report_seconds": 2.0,
            "load_average_before": [3.0, 2.0, 1.0],
            "window_steps": 20000,
            "reports": reports((100, -30), (1100, -25)) if seconds else reports((500, -28)),
        }

    results = [
        result("marl", 0, 10.0, 1000),
        result("marl", 1, 30.0, 3000),
        result("marl", 2, 20.0, 2000),
        result("benchmarl", 0, None, None),
    ]
    summary = ttr.summarise(results)
    assert summary["marl"]["reached"] == 3 and summary["marl"]["median_seconds"] == 20.0
    assert summary["marl"]["median_steps"] == 2000
    assert summary["marl"]["median_steps_per_second"] == 1000  # 1,000 steps between reports 1 s apart
    assert summary["marl"]["final_returns"] == [pytest.approx((-30 * 100 - 25 * 1000) / 1100)] * 3
    assert summary["benchmarl"] == {
        "runs": 1,
        "reached": 0,
        "median_seconds": None,
        "median_steps": None,
        "seconds": [None],
        "steps": [None],
        "steps_run": [500],
        "median_first_report_seconds": 2.0,
        "median_steps_per_second": None,
        "final_returns": [-28.0],  # over the 500 steps there were
        "load_average_1min": [3.0],
    }
    settings = {
        "num_envs": 16,
        "threshold": -22,
        "window": 20000,
        "cap_seconds": 300,
        "machine": "2-core CPU",
    }
    text = ttr.table(summary, settings)
    assert (
        "| marl | 3/3 | 20 | 2,000 | 10 (1,000), 30 (3,000), 20 (2,000) | 2.0 | 1,000 | -25.5, -25.5, -25.5 | 3.0, 3.0, 3.0 |"
        in text
    )
    assert (
        "| benchmarl | 0/1 | not reached | not reached | not reached in 500 steps | 2.0 | - | -28.0 | 3.0 |"
        in text
    )
