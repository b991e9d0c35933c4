"""The `marl` command: config errors before any work, run directories, resume after a kill, eval, render."""

import csv
import json
import signal
import time
from pathlib import Path

import imageio.v3 as iio
import pytest
import torch
from cli_process import marl_process

from marl.running.cli import main
from marl.running.io import atomic_torch_save

FAST = ["env=test/toy_walk", "algo=random", "num_envs=4", "eval_episodes=4", "progress=false"]


def test_mistyped_top_level_key_fails_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", *FAST, "totl_steps=100", f"run_dir={tmp_path / 'run'}"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "unknown config key 'totl_steps'" in err and "Did you mean 'total_steps'?" in err
    assert not (tmp_path / "run").exists()


def test_mistyped_env_key_and_wrong_type_fail_before_training(tmp_path):
    for bad, message in [
        ("env.n_walker=2", "Key 'n_walker' not in"),
        ("num_envs=many", "could not be converted to Integer"),
    ]:
        proc = marl_process("train", *FAST, bad, f"run_dir={tmp_path / 'run'}", cwd=tmp_path)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode != 0 and message in err
        assert not (tmp_path / "run" / "metrics.csv").exists()


def test_unknown_env_and_algo_choices_are_named(capsys):
    for arg, message in [
        ("env=test/toy_wlk", "Did you mean 'test/toy_walk'?"),
        ("algo=randon", "Did you mean 'random'?"),
    ]:
        with pytest.raises(SystemExit):
            main(["train", arg])
        assert message in capsys.readouterr().err


def test_train_writes_a_complete_run_directory(tmp_path):
    run = tmp_path / "run"
    main(["train", *FAST, "total_steps=1000", f"run_dir={run}"])
    config = (run / "config.yaml").read_text()
    assert "id: test/toy_walk" in config and "total_steps: 1000" in config and "${" not in config
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == list(range(128, 1025, 128))
    assert "train/episode_return" in rows[-1] and "time/steps_per_second" in rows[-1]
    results = json.loads((run / "results.json").read_text())["test"]["toy_walk"]["random"]["seed_0"]
    assert results["step_0"]["step_count"] == 0 and len(results["absolute_metrics"]["return"]) == 4
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=False)["steps"] == 1024


def test_a_killed_run_resumes_from_its_last_checkpoint_with_the_same_step_count(tmp_path):
    run = tmp_path / "run"
    args = [*FAST, "checkpoint_every=512", "eval_every=100000000", f"run_dir={run}"]
    proc = marl_process("train", *args, "total_steps=100000000", cwd=tmp_path)
    checkpoint = run / "checkpoints" / "last.pt"
    deadline = time.time() + 120
    while time.time() < deadline:
        if checkpoint.exists() and torch.load(checkpoint, weights_only=False)["steps"] >= 2048:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    saved = torch.load(checkpoint, weights_only=False)["steps"]
    assert saved >= 2048
    resumed = marl_process("train", *args, f"total_steps={saved + 1024}", cwd=tmp_path)
    _, err = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, err
    with open(run / "metrics.csv") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f)]
    # nothing logged twice, nothing lost: the resumed run carries on from the checkpoint's step count
    assert steps == sorted(set(steps)) and steps[0] == 128
    assert saved in steps and steps[steps.index(saved) + 1] == saved + 128
    assert steps[-1] == saved + 1024
    assert torch.load(checkpoint, weights_only=False)["steps"] == saved + 1024


def test_resuming_with_a_different_config_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    main(["train", *FAST, "total_steps=256", f"run_dir={run}"])
    with pytest.raises(SystemExit):  # Hydra reports the error and exits
        main(["train", *FAST, "total_steps=512", "seed=7", f"run_dir={run}"])
    assert "holds a checkpoint of a different run (seed: saved 0, now 7)" in capsys.readouterr().err


def test_checkpoint_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    atomic_torch_save(path, {"steps": 1})

    def broken_save(obj, f):
        Path(f).write_bytes(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        atomic_torch_save(path, {"steps": 2})
    monkeypatch.undo()
    assert torch.load(path, weights_only=False) == {"steps": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_eval_writes_deterministic_and_stochastic_statistics(tmp_path):
    run = tmp_path / "run"
    main(["train", *FAST, "total_steps=256", f"run_dir={run}"])
    main(["eval", f"checkpoint={run}", "eval_episodes=6", f"run_dir={tmp_path / 'eval'}"])
    report = json.loads((tmp_path / "eval" / "eval.json").read_text())
    for mode in ("deterministic", "stochastic"):
        assert len(report["episodes"][mode]["episode_return"]) == 6
        assert set(report[mode]) >= {"episode_return", "episode_length", "arrived"}


def test_eval_of_a_checkpoint_takes_env_keys_from_the_command_line_and_refuses_another_env(tmp_path, capsys):
    run = tmp_path / "run"
    main(["train", *FAST, "total_steps=256", f"run_dir={run}"])
    main(["eval", f"checkpoint={run}", "eval_episodes=4", "env.max_steps=7", f"run_dir={tmp_path / 'eval'}"])
    report = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert max(report["episodes"]["stochastic"]["episode_length"]) <= 7  # the run's own limit is 20
    with pytest.raises(SystemExit) as stop:
        main(["eval", f"checkpoint={run}", "env=mpe/simple_spread", f"run_dir={tmp_path / 'eval2'}"])
    assert stop.value.code == 2 and "env.KEY=VALUE" in capsys.readouterr().err


@pytest.mark.parametrize("fmt, copies", [("gif", 1), ("mp4", 4)])
def test_render_writes_a_video_of_one_copy_or_a_grid(tmp_path, fmt, copies):
    run = tmp_path / "run"
    main(["train", *FAST, "total_steps=256", f"run_dir={run}"])
    main(
        [
            "render",
            f"checkpoint={run}",
            f"video.format={fmt}",
            f"video.copies={copies}",
            "video.frames=12",
            f"run_dir={run}",
        ]
    )
    frames = iio.imread(run / "videos" / f"rollout.{fmt}", index=None)
    single = marl_frame_shape()
    rows = cols = 2 if copies == 4 else 1
    assert frames.shape[0] == 13
    border = 4 if copies > 1 else 0  # grey pixels between copies
    assert frames.shape[1:3] == (rows * single[0] + border, cols * single[1] + border)


def marl_frame_shape():
    import marl

    env = marl.make("test/toy_walk")
    env.reset()
    return env.render().shape


def test_multirun_sweeps_a_grid_of_choices_and_seeds(tmp_path):
    proc = marl_process(
        "train",
        "-m",
        "env=test/toy_walk",
        "algo=random",
        "seed=0,1",
        "total_steps=256",
        "num_envs=4",
        "eval_episodes=2",
        "progress=false",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        cwd=tmp_path,
    )
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err
    configs = sorted((tmp_path / "sweep").glob("*/config.yaml"))
    assert len(configs) == 2 and {"seed: 0", "seed: 1"} <= {
        line for c in configs for line in c.read_text().splitlines()
    }
    assert all((c.parent / "results.json").is_file() for c in configs)


def test_marl_list_and_unknown_command(capsys):
    main(["list"])
    out = capsys.readouterr().out
    assert "test/toy_walk" in out and "random" in out
    with pytest.raises(SystemExit) as exit_:
        main(["trian"])
    assert exit_.value.code == 2 and "did you mean 'train'?" in capsys.readouterr().err


def test_marl_bench_lists_the_scripts_and_names_the_closest_to_a_mistyped_one(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bench"])
    assert exit_.value.code == 0
    listing = capsys.readouterr().out
    assert "maddpg_reproduction" in listing and "train_speed" in listing and "Training throughput" in listing
    assert "suites:" in listing and "speed " in listing  # the suites of configs/suite/
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "maddpg_reproductoin"])
    assert exit_.value.code == 2 and "Did you mean 'maddpg_reproduction'?" in capsys.readouterr().err
