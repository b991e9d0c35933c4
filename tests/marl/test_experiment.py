"""marl.Experiment: one loop built from a dict, keyword or Hydra overrides; it resumes and refuses bad keys."""

import csv
import json

import pytest
import torch
import yaml
from omegaconf import OmegaConf

import marl
from marl.running.cli import main

FAST = {
    "env": "test/toy_walk",
    "algo": "random",
    "num_envs": 4,
    "eval_episodes": 4,
    "progress": False,
}  # one iteration of the random policy: 32 steps x 4 copies = 128 environment steps


def test_keywords_a_dict_and_hydra_strings_compose_the_same_config(tmp_path):
    run_dir = str(tmp_path / "run")
    from_keywords = marl.Experiment(**FAST, seed=3, run_dir=run_dir)
    from_dict = marl.Experiment({**FAST, "seed": 3, "run_dir": run_dir})
    from_strings = marl.Experiment([f"{k}={v}" for k, v in FAST.items()] + ["seed=3", f"run_dir={run_dir}"])
    configs = [e.config for e in (from_keywords, from_dict, from_strings)]
    assert configs[0] == configs[1] == configs[2]
    assert configs[0].env.id == "test/toy_walk" and configs[0].algo.name == "random"
    assert from_keywords.env.num_envs == 4 and from_keywords.eval_env.num_envs == 4


def test_a_dictconfig_is_the_complete_run_config_and_keywords_merge_over_it(tmp_path):
    composed = marl.Experiment(**FAST, run_dir=tmp_path).config
    again = marl.Experiment(composed, seed=5)
    assert again.config.seed == 5 and again.config.num_envs == 4 and again.config.run_dir == str(tmp_path)
    with pytest.raises(ValueError, match="'sed'"):
        marl.Experiment(composed, sed=5)


def test_a_saved_config_rebuilds_the_same_experiment_and_group_keys_merge_over_the_option(tmp_path):
    experiment = marl.Experiment(
        {**FAST, "env": {"id": "test/toy_walk", "n_walkers": 2}}, total_steps=256, run_dir=tmp_path / "a"
    )
    assert experiment.env.group_specs["walker"].agents == ("walker_0", "walker_1")
    experiment.run()
    saved = yaml.safe_load((tmp_path / "a" / "config.yaml").read_text())
    again = marl.Experiment({**saved, "run_dir": str(tmp_path / "b")})
    assert OmegaConf.to_container(again.config) == {**saved, "run_dir": str(tmp_path / "b")}


def test_run_writes_the_run_directory_and_returns_the_final_evaluation(tmp_path):
    experiment = marl.Experiment(**FAST, total_steps=1000, run_dir=tmp_path / "run")
    assert experiment.run() == tmp_path / "run"
    assert len(experiment.results["episode_return"]) == 4
    assert [row["step"] for row in experiment.metrics] == list(range(128, 1025, 128))
    assert [e["step_count"] for e in experiment.evaluations] == [0, 128, 256, 384, 512, 640, 768, 896, 1024]
    assert experiment.evaluations[-1]["return"] == experiment.results["episode_return"]
    layout = json.loads((tmp_path / "run" / "results.json").read_text())
    final = layout["test"]["toy_walk"]["random"]["seed_0"]["absolute_metrics"]
    assert final["return"] == experiment.results["episode_return"]


def test_log_every_aggregates_iterations_into_one_row(tmp_path):
    per_iteration = marl.Experiment(**FAST, total_steps=1024, run_dir=tmp_path / "a")
    per_iteration.run()
    grouped = marl.Experiment(
        **FAST, total_steps=1024, log_every=500, checkpoint_every=1024, run_dir=tmp_path / "b"
    )
    grouped.run()
    # rows at the first iteration past each multiple of 500, at checkpoints and at the end
    assert [row["step"] for row in grouped.metrics] == [512, 1024]
    episodes = [sum(r.get("train/episodes", 0) for r in m) for m in (per_iteration.metrics, grouped.metrics)]
    assert episodes[0] == episodes[1] > 0  # the same seed plays the same episodes; none is lost or doubled
    with open(tmp_path / "b" / "metrics.csv") as f:
        assert [int(r["step"]) for r in csv.DictReader(f)] == [512, 1024]


def test_a_finished_run_resumes_to_a_larger_budget_with_the_same_history(tmp_path):
    run_dir = tmp_path / "run"
    marl.Experiment(**FAST, total_steps=512, eval_every=256, run_dir=run_dir).run()
    resumed = marl.Experiment(**FAST, total_steps=1024, eval_every=256, run_dir=run_dir)
    resumed.run()
    assert [row["step"] for row in resumed.metrics] == list(range(128, 1025, 128))
    assert torch.load(run_dir / "checkpoints" / "last.pt", weights_only=False)["steps"] == 1024
    # the finished run's evaluations (its final one at 512 included) stay; the resumed part adds its own
    assert [e["step_count"] for e in resumed.evaluations] == [0, 256, 512, 768, 1024]


def test_a_run_saved_before_a_key_existed_resumes_with_that_keys_default(tmp_path):
    marl.Experiment(**FAST, total_steps=256, run_dir=tmp_path).run()
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    del saved["eval_deterministic"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(saved))
    marl.Experiment(**FAST, total_steps=384, run_dir=tmp_path).run()
    with pytest.raises(ValueError, match="eval_deterministic: saved True, now False"):
        marl.Experiment(**FAST, total_steps=512, eval_deterministic=False, run_dir=tmp_path).run()


def test_resuming_a_different_run_is_refused(tmp_path):
    marl.Experiment(**FAST, total_steps=256, run_dir=tmp_path).run()
    with pytest.raises(ValueError, match=r"different run \(seed: saved 0, now 1\)"):
        marl.Experiment(**FAST, total_steps=256, seed=1, run_dir=tmp_path).run()


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"totl_steps": 100}, "unknown config key 'totl_steps'.*Did you mean 'total_steps'"),
        ({"env": {"id": "test/toy_walk", "n_walker": 2}}, "'env.n_walker'.*Key 'n_walker' not in"),
        ({"algo": {"name": "random", "step_per_iteration": 8}}, "'algo.step_per_iteration'"),
        ({"num_envs": "many"}, "'num_envs'.*could not be converted to Integer"),
        ({"env": "test/toy_wlk"}, "unknown env 'test/toy_wlk'. Did you mean 'test/toy_walk'"),
        ({"num_envs": 0}, "num_envs must be a positive integer, got 0"),
        ({"log_every": -1}, "log_every must be >= 0"),
    ],
)
def test_unknown_keys_and_bad_values_fail_before_anything_is_written(tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        marl.Experiment({**FAST, "run_dir": str(tmp_path / "run"), **bad})
    assert not (tmp_path / "run").exists()


def test_bad_hydra_strings_and_config_types_are_refused():
    with pytest.raises(ValueError, match="unknown config key 'sed'"):
        marl.Experiment(["env=test/toy_walk", "sed=1"])
    with pytest.raises(TypeError, match="list of strings"):
        marl.Experiment("seed=1")


def test_default_run_directories_are_new_and_compose_after_a_cli_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main(["train", *(f"{k}={v}" for k, v in FAST.items()), "total_steps=128", "run_dir=cli"])
    first = marl.Experiment(**FAST, total_steps=128)  # composed while Hydra's global state is in use
    assert first.config.run_dir.startswith("runs/")  # Hydra's default: runs/<date>/<time>
    first.run()
    second = marl.Experiment(**FAST, total_steps=128, seed=1)
    assert not second.run_dir.exists()  # the same second gets runs/<date>/<time>-1, never the first's run
    second.run()


@pytest.mark.parametrize("setting", [True, False])
def test_evaluations_play_greedy_or_sampled_as_configured(tmp_path, monkeypatch, setting):
    modes = []

    def recording_evaluate(policy, env, episodes, deterministic, seed):
        modes.append(deterministic)
        return {"episode_return": [0.0] * episodes}

    monkeypatch.setattr("marl.running.experiment.evaluate", recording_evaluate)
    experiment = marl.Experiment(
        **FAST, eval_deterministic=setting, total_steps=256, eval_every=128, run_dir=tmp_path
    )
    experiment.run()
    experiment.evaluate(deterministic=not setting)
    assert modes == [setting, setting, setting, not setting]
