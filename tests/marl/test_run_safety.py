"""Run directories that never lose or overwrite data, one-line errors, broken plugins and Ctrl-C."""

import contextlib
import json
import os
import random
import signal
import tempfile
import time
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import torch
from cli_process import marl_process
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import marl
from marl.core import registry
from marl.running.cli import main
from marl.running.config import TOP_LEVEL_KEYS, compose_run_config
from marl.running.experiment import Experiment

FAST = {"env": "test/toy_walk", "algo": "random", "num_envs": 4, "eval_episodes": 4, "progress": False}
FAST_ARGS = [f"{k}={v}" for k, v in FAST.items()]  # 128 environment steps per iteration


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def scalar_steps(run: Path) -> dict[str, list[int]]:
    """Each TensorBoard tag's steps, as TensorBoard shows them (purged events left out)."""
    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    return {tag: [e.step for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def evaluation_steps(run: Path) -> list[int]:
    layout = json.loads((run / "results.json").read_text())
    evaluations = layout["test"]["toy_walk"]["random"]["seed_0"]
    assert "absolute_metrics" in evaluations
    return [v["step_count"] for k, v in evaluations.items() if k != "absolute_metrics"]


def metric_steps(run: Path) -> list[int]:
    return [int(line.split(",")[0]) for line in (run / "metrics.csv").read_text().splitlines()[1:]]


# -- data lost, overwritten or wrong without a word ---------------------------------------------------------


def test_an_empty_run_dir_is_refused_instead_of_training_into_the_current_directory(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["train", *FAST_ARGS, "total_steps=128", "run_dir="])
    assert exit_.value.code == 2 and "run_dir is empty" in capsys.readouterr().err
    with pytest.raises(ValueError, match="run_dir is empty"):
        marl.Experiment(**FAST, run_dir="")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("config", [None, "lr: 0.1\n", "[unclosed"])
def test_a_folder_that_is_not_a_run_is_never_overwritten(tmp_path, config):
    (tmp_path / "metrics.csv").write_text("mine")  # a folder of the user's, with no run's config.yaml
    if config is not None:
        (tmp_path / "config.yaml").write_text(config)
    before = files_of(tmp_path)
    with pytest.raises(ValueError, match="not a run directory|not a readable run config"):
        marl.Experiment(**FAST, total_steps=128, run_dir=tmp_path).run()
    assert files_of(tmp_path) == before


@pytest.mark.parametrize("key", ["eval_every", "checkpoint_every"])
def test_negative_schedules_are_refused(tmp_path, key):
    with pytest.raises(ValueError, match=f"{key} must be >= 0"):
        marl.Experiment(**FAST, run_dir=tmp_path / "run", **{key: -1})


def test_running_a_finished_run_again_changes_nothing(tmp_path):
    first = marl.Experiment(**FAST, total_steps=256, eval_every=128, run_dir=tmp_path)
    first.run()
    before = files_of(tmp_path)
    again = marl.Experiment(**FAST, total_steps=256, eval_every=128, run_dir=tmp_path)
    again.run()
    assert files_of(tmp_path) == before
    assert again.results == first.results
    assert [e["step_count"] for e in again.evaluations] == [0, 128, 256]


def test_a_resumed_run_has_every_output_of_an_uninterrupted_one(tmp_path):
    schedule = {**FAST, "eval_every": 128, "checkpoint_every": 128}
    marl.Experiment(**schedule, total_steps=512, run_dir=tmp_path / "whole").run()
    marl.Experiment(**schedule, total_steps=256, run_dir=tmp_path / "resumed").run()
    marl.Experiment(**schedule, total_steps=512, run_dir=tmp_path / "resumed").run()
    whole, resumed = tmp_path / "whole", tmp_path / "resumed"
    assert scalar_steps(resumed) == scalar_steps(whole)  # the scalars at the resume step (256) included
    assert scalar_steps(whole)["eval/return"] == [0, 128, 256, 384, 512]
    assert metric_steps(resumed) == metric_steps(whole)
    assert evaluation_steps(resumed) == evaluation_steps(whole)


def test_refused_resume_eval_and_render_leave_another_runs_files_alone(tmp_path):
    run = tmp_path / "run"
    main(["train", *FAST_ARGS, "total_steps=128", f"run_dir={run}"])
    before = files_of(run)
    with pytest.raises(SystemExit):
        main(["train", *FAST_ARGS, "total_steps=128", "seed=5", f"run_dir={run}"])
    main(["eval", f"checkpoint={run}", "eval_episodes=2"])
    main(["render", f"checkpoint={run}", "video.frames=2"])
    after = files_of(run)
    assert {name: after[name] for name in before} == before
    assert set(after) - set(before) == {"eval.json", "videos/rollout.gif"}  # the docs' run directory


def test_a_broken_plugin_is_reported_once_and_skipped(monkeypatch, capsys):
    installed = [ep for ep in registry.entry_points(group="marl.envs")]
    broken = EntryPoint("aaa_broken", "marl_no_such_plugin_module:register", "marl.envs")
    monkeypatch.setattr(
        registry, "entry_points", lambda group: [broken, *installed] if group == "marl.envs" else []
    )
    monkeypatch.setattr(registry, "_envs", {})
    monkeypatch.setattr(registry, "_loaded_groups", set())
    monkeypatch.setattr(registry, "plugin_errors", {})
    first = registry.list_envs()
    assert first == registry.list_envs() and "mpe/simple_spread" in first
    assert marl.make("mpe/simple_spread").num_envs == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "marl: skipped plugin 'aaa_broken' (marl.envs entry point marl_no_such_plugin_module:register): "
        "ModuleNotFoundError: No module named 'marl_no_such_plugin_module'"
    ]


def test_every_file_of_a_run_has_the_mode_of_a_new_file_and_hydra_leaves_no_records(tmp_path):
    run = tmp_path / "run"
    main(["train", *FAST_ARGS, "total_steps=128", f"run_dir={run}"])
    (tmp_path / "new").touch()
    mode = (tmp_path / "new").stat().st_mode
    assert {name: (run / name).stat().st_mode for name in files_of(run)} == dict.fromkeys(files_of(run), mode)
    assert not (run / ".hydra").exists() and not list(run.glob("*.log"))


def test_marl_list_describes_by_the_whole_first_sentence(monkeypatch):
    def factory(num_envs=1, device="cpu", seed=None):
        """Walkers on a ring, each one
        step from its neighbours. More detail that is not shown."""

    monkeypatch.setattr(registry, "_envs", {})
    registry.register_env("test/ring", factory)
    assert (
        registry.env_entry("test/ring").description == "Walkers on a ring, each one step from its neighbours."
    )


# -- errors that are one line -------------------------------------------------------------------------------


def one_line_error(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(list(args))
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "bad, message",
    [
        ("device=banana", "device 'banana' is not a device: expected cpu, cuda or cuda:N"),
        ("num_envs=0", "num_envs must be a positive integer, got 0"),
        ("total_steps=0", "total_steps must be a positive integer, got 0"),
        ("run_dir=a=b", "contains '='"),
    ],
)
def test_config_errors_are_one_line_with_exit_code_2(tmp_path, capsys, bad, message):
    args = ["train", *FAST_ARGS, "total_steps=128", f"run_dir={tmp_path / 'run'}", bad]
    assert message in one_line_error(capsys, *args)
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_on_a_machine_without_it_is_one_line(tmp_path, capsys):
    err = one_line_error(capsys, "train", *FAST_ARGS, "device=cuda", f"run_dir={tmp_path / 'run'}")
    assert "device 'cuda': this machine has no CUDA device" in err


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(ValueError, match="num_envs must be a positive integer"):
        main(["train", *FAST_ARGS, "num_envs=0", f"run_dir={tmp_path / 'run'}", "--debug"])


def test_a_run_dir_that_is_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "file").write_text("mine")
    assert "is a file" in one_line_error(capsys, "train", *FAST_ARGS, f"run_dir={tmp_path / 'file'}")
    assert (tmp_path / "file").read_text() == "mine"


@pytest.mark.parametrize("content", [b"", b"garbage", "half"])
def test_a_corrupt_checkpoint_is_named_in_one_line(tmp_path, capsys, content):
    run = tmp_path / "run"
    main(["train", *FAST_ARGS, "total_steps=128", f"run_dir={run}"])
    checkpoint = run / "checkpoints" / "last.pt"
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 2] if content == "half" else content)
    for command in ("train", "eval"):
        args = FAST_ARGS if command == "train" else [f"checkpoint={run}"]
        err = one_line_error(capsys, command, *args, "total_steps=128", f"run_dir={run}")
        assert f"checkpoint {checkpoint} is corrupt or truncated" in err


def test_experiment_null_means_no_preset(tmp_path):
    cfg = compose_run_config(["experiment=null", "env=test/toy_walk"], {"run_dir": str(tmp_path)})
    assert cfg.num_envs == 16 and cfg.total_steps == 100_000  # the schema's defaults, not the preset's


def test_ctrl_c_writes_a_checkpoint_and_says_how_to_resume(tmp_path):
    run = tmp_path / "run"
    args = [*FAST_ARGS, "total_steps=100000000", "eval_every=256", f"run_dir={run}"]
    proc = marl_process("train", *args, cwd=tmp_path)
    for line in proc.stdout:  # progress=false: one line per evaluation
        if line.startswith("step 256:"):
            break
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    step = torch.load(run / "checkpoints" / "last.pt", weights_only=False)["steps"]
    assert proc.returncode == 130 and "Traceback" not in err
    assert (
        err.strip().splitlines()[-1] == f"marl: interrupted at step {step:,}; run the same command to resume"
    )
    assert metric_steps(run)[-1] == step


# -- fuzzing: whatever a user types, a failure is one line and leaves no run directory ----------------------

FUZZ_PHASES = (Phase.explicit, Phase.reuse, Phase.generate)  # a failing example as found: shrinking is slow
VALUES = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.floats(allow_nan=True).map(str),
    st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=10),
    st.sampled_from(["null", "true", "[]", "{}", "cuda", "cpu", "[1,2", "'a'", "${oops}"]),
)


@contextlib.contextmanager
def in_empty_directory():
    with tempfile.TemporaryDirectory() as folder:
        previous = os.getcwd()
        os.chdir(folder)
        try:
            yield Path(folder)
        finally:
            os.chdir(previous)


def train_fails_in_one_line_or_builds(capsys, overrides: list[str], name: str) -> None:
    """`marl train` with `overrides` (training itself skipped) either builds the run or fails in one line
    naming `name`, leaving nothing behind."""
    with in_empty_directory() as folder:
        try:
            main(["train", *overrides])
        except SystemExit as exit_:
            err = capsys.readouterr().err.strip()
            assert exit_.code == 2 and len(err.splitlines()) == 1, err
            assert name in err and "Traceback" not in err, err
            assert list(folder.iterdir()) == [], "a failed run left files behind"
        else:
            capsys.readouterr()


@settings(
    max_examples=30,
    deadline=None,
    phases=FUZZ_PHASES,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(key=st.sampled_from([k for k in TOP_LEVEL_KEYS if k not in ("env", "algo")]), value=VALUES)
def test_any_value_of_a_top_level_key_builds_or_fails_in_one_line(capsys, monkeypatch, key, value):
    monkeypatch.setattr(Experiment, "run", lambda self: self.run_dir)
    monkeypatch.setattr(torch, "set_num_threads", lambda n: None)
    overrides = [*FAST_ARGS, f"{key}={value}"] + ([] if key == "run_dir" else ["run_dir=run"])
    train_fails_in_one_line_or_builds(capsys, overrides, key)


GRIDS = st.lists(st.text(st.sampled_from(".#@x \t"), min_size=0, max_size=6), min_size=0, max_size=6)


@settings(
    max_examples=20,
    deadline=None,
    phases=FUZZ_PHASES,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(content=st.one_of(st.binary(max_size=64), GRIDS.map(lambda rows: "\n".join(rows).encode())))
def test_any_map_file_builds_or_fails_in_one_line_naming_it(capsys, monkeypatch, content):
    monkeypatch.setattr(Experiment, "run", lambda self: self.run_dir)
    with tempfile.TemporaryDirectory() as folder:
        map_file = Path(folder) / "fuzzed.txt"
        map_file.write_bytes(content)
        overrides = ["env=pathfinding/maps", f"env.map_set={map_file}", "algo=random", "num_envs=2"]
        train_fails_in_one_line_or_builds(
            capsys, [*overrides, "eval_episodes=2", "run_dir=run"], str(map_file)
        )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_a_run_killed_at_a_random_point_resumes_to_the_outputs_of_an_uninterrupted_one(tmp_path, sig):
    """docs/running.md: a killed run resumes with nothing lost or duplicated in CSV, JSON and TensorBoard."""
    pick = random.Random(int(sig))  # a reproducible random point
    schedule = {**FAST, "eval_every": 512, "checkpoint_every": 256}
    killed = tmp_path / "killed"
    args = [f"{k}={v}" for k, v in schedule.items()]
    proc = marl_process("train", *args, "total_steps=100000000", f"run_dir={killed}", cwd=tmp_path)
    for line in proc.stdout:  # one line per evaluation: the first after training started is at step 512
        if line.startswith("step 512:"):
            break
    time.sleep(pick.uniform(0.0, 0.5))
    proc.send_signal(sig)
    proc.communicate(timeout=60)
    assert proc.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL)
    reached = max(
        metric_steps(killed)[-1], torch.load(killed / "checkpoints" / "last.pt", weights_only=False)["steps"]
    )
    total = (reached // 512 + 2) * 512
    marl.Experiment(**schedule, total_steps=total, run_dir=killed).run()  # the same command, resumed
    marl.Experiment(**schedule, total_steps=total, run_dir=tmp_path / "whole").run()
    whole = tmp_path / "whole"
    assert metric_steps(killed) == metric_steps(whole) == list(range(128, total + 1, 128))
    assert evaluation_steps(killed) == evaluation_steps(whole) == list(range(0, total + 1, 512))
    assert scalar_steps(killed) == scalar_steps(whole)
