"""The registry: ids, errors that help, and plugins installed as separate packages."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import marl
from marl.core.registry import RegistryError


def test_make_builds_the_registered_env_with_its_kwargs():
    env = marl.make("test/toy_walk", num_envs=3, seed=1, n_walkers=5)
    assert env.num_envs == 3 and env.group_specs["walker"].n == 5
    assert "test/toy_walk" in marl.list_envs() and "random" in marl.list_algos()


def test_unknown_id_names_the_closest_match_and_the_known_ids():
    with pytest.raises(RegistryError) as err:
        marl.make("test/toy_wallk")
    assert "unknown environment 'test/toy_wallk'. Did you mean 'test/toy_walk'?" in str(err.value)
    assert "Known environments: " in str(err.value) and "test/toy_walk" in str(err.value)


def test_malformed_id_and_duplicate_registration_are_refused():
    with pytest.raises(RegistryError, match="malformed: expected 'family/task'"):
        marl.register_env("NoSlash", lambda **kw: None)
    with pytest.raises(RegistryError, match="already registered"):
        marl.register_env("test/toy_walk", lambda **kw: None)


def test_unknown_env_parameter_is_named_with_a_suggestion():
    with pytest.raises(TypeError, match=r"unknown parameters \['n_walker'\] \(did you mean 'n_walkers'\?\)"):
        marl.make("test/toy_walk", n_walker=2)


PLUGIN = '''
"""A separately installed package that adds an environment and an algorithm through entry points."""
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

import marl


class Coin(marl.BatchedEnv):
    """One agent guesses a hidden bit; reward 1 when right."""

    def __init__(self, num_envs=1, device="cpu", seed=None, max_steps: int = 5):
        spec = marl.GroupSpec(("player_0",), gym.spaces.Box(0, 1, (1,), np.float32), gym.spaces.Discrete(2))
        super().__init__(groups={"player": spec}, num_envs=num_envs, device=device, seed=seed, max_steps=max_steps)
        self.bit = torch.zeros(num_envs, dtype=torch.long, device=self.device)

    def _reset(self, mask):
        draw = torch.randint(2, (self.num_envs,), generator=self.generator, device=self.device)
        self.bit = torch.where(mask, draw, self.bit)

    def _step(self, actions):
        right = (actions["player"][:, 0] == self.bit).float()[:, None]
        return {"player": (right, torch.zeros_like(right, dtype=torch.bool))}

    def _observe(self):
        return {"player": self.bit.float()[:, None, None]}


@dataclass
class CheatConfig:
    steps_per_iteration: int = 10


class Cheat(marl.Algorithm):
    """Plays the observed bit: always right."""

    def train_iteration(self):
        step = self.env.reset()
        for _ in range(self.config.steps_per_iteration):
            actions, _ = self.act(step, None)
            step = self.env.step(actions)
            self.episodes.record(step)
        return marl.Iteration(env_steps=self.config.steps_per_iteration * self.env.num_envs)

    def act(self, step, policy_state, deterministic=False):
        return {"player": step["player"].obs[..., 0].long()}, policy_state

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


def register_envs():
    marl.register_env("plug/coin", Coin)


def register_algos():
    marl.register_algo("cheat", Cheat, CheatConfig)
'''


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory):
    root = tmp_path_factory.mktemp("plugin")
    (root / "src" / "marl_test_plugin").mkdir(parents=True)
    (root / "src" / "marl_test_plugin" / "__init__.py").write_text(PLUGIN)
    (root / "src" / "pyproject.toml").write_text(
        textwrap.dedent(
            """
            [build-system]
            requires = ["setuptools"]
            build-backend = "setuptools.build_meta"
            [project]
            name = "marl-test-plugin"
            version = "0.1"
            [project.entry-points."marl.envs"]
            plug = "marl_test_plugin:register_envs"
            [project.entry-points."marl.algos"]
            plug = "marl_test_plugin:register_algos"
            """
        )
    )
    site = root / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(root / "src"),
        ],
        check=True,
        capture_output=True,
    )
    return site


def run_marl(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-m", "marl.running.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_an_installed_plugin_appears_in_marl_list_and_trains_unchanged(installed_plugin, tmp_path):
    listed = run_marl(installed_plugin, "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "plug/coin" in listed.stdout and "cheat" in listed.stdout
    run_dir = tmp_path / "run"
    trained = run_marl(
        installed_plugin,
        "train",
        "env=plug/coin",
        "algo=cheat",
        "total_steps=200",
        "num_envs=4",
        "eval_episodes=4",
        "progress=false",
        f"run_dir={run_dir}",
        cwd=tmp_path,
    )
    assert trained.returncode == 0, trained.stderr
    import json

    results = json.loads((run_dir / "results.json").read_text())
    final = results["plug"]["coin"]["cheat"]["seed_0"]["absolute_metrics"]["return"]
    assert final == [5.0] * 4  # five steps, always right
