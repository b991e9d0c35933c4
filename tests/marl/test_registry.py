"""The registry: ids, errors that help, and plugins installed as separate packages."""

import dataclasses
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from toy_env import ToyWalk

import marl
from marl.core.registry import RegistryError
from marl.core.validation import check_bool, check_choice, check_int, check_number, check_positive_int
from marl.running.config import env_schema


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


@dataclass
class ToyWalkConfig:
    """A config class for the toy environment: its keys, defaults and rules in one place."""

    n_walkers: int = 3
    size: int = 7

    def validate(self) -> None:
        check_positive_int("n_walkers", self.n_walkers)
        check_int("size", self.size, low=2)


def toy_walk_from_config(config: ToyWalkConfig, *, num_envs: int, device: str, seed: int | None):
    return ToyWalk(num_envs=num_envs, device=device, seed=seed, n_walkers=config.n_walkers, size=config.size)


@pytest.fixture(scope="module")
def configured_env():
    marl.register_env("test/configured_walk", toy_walk_from_config, config=ToyWalkConfig)
    return "test/configured_walk"


def test_an_env_registered_with_a_config_class_is_made_from_its_keys(configured_env):
    env = marl.make(configured_env, num_envs=2, seed=0, n_walkers=4)
    assert env.num_envs == 2 and env.group_specs["walker"].n == 4
    with pytest.raises(TypeError, match=r"unknown parameters \['n_walker'\] \(did you mean 'n_walkers'\?\)"):
        marl.make(configured_env, n_walker=2)
    with pytest.raises(ValueError, match=r"size must be an int >= 2, got 1"):
        marl.make(configured_env, size=1)


def test_the_hydra_schema_of_a_configured_env_is_its_config_class(configured_env):
    schema = env_schema(configured_env)
    fields = {f.name: (f.type, f.default) for f in dataclasses.fields(schema)}
    assert fields == {
        "id": (str, configured_env),
        "compile": (bool, False),  # every environment's (marl.make's), not the config class's
        "n_walkers": (int, 3),
        "size": (int, 7),
    }


def test_a_config_class_must_be_a_dataclass_without_run_keys():
    @dataclass
    class WithSeed:
        seed: int = 0

    with pytest.raises(TypeError, match="must be a dataclass type"):
        marl.register_env("test/bad_config", toy_walk_from_config, config=dict)
    with pytest.raises(TypeError, match=r"may not have fields \['seed'\]"):
        marl.register_env("test/bad_config", toy_walk_from_config, config=WithSeed)


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (lambda v: check_positive_int("n_agents", v), 0, "n_agents must be an int >= 1, got 0"),
        (lambda v: check_positive_int("n_agents", v), True, "n_agents must be an int >= 1, got True"),
        (
            lambda v: check_int("k", v, low=1, high=3, allow_none=True),
            4,
            "k must be an int in [1, 3] or None",
        ),
        (lambda v: check_number("ratio", v, low=0, high=1), 1.5, "ratio must be a finite number in [0, 1]"),
        (lambda v: check_number("dt", v, low=0, low_open=True), 0.0, "dt must be a finite number > 0"),
        (lambda v: check_number("x", v), float("nan"), "x must be a finite number, got nan"),
        (lambda v: check_bool("flag", v), 1, "flag must be True or False, got 1"),
        (lambda v: check_choice("mode", v, ("a", "b")), "c", "mode must be one of ['a', 'b'], got 'c'"),
    ],
)
def test_validators_name_the_key_the_value_and_what_is_expected(check, value, message):
    with pytest.raises(ValueError) as err:
        check(value)
    assert message in str(err.value)


def test_validators_return_plain_python_values():
    assert check_int("k", np.int64(3), low=1) == 3 and type(check_int("k", np.int64(3))) is int
    assert check_number("x", 2) == 2.0 and check_int("k", None, allow_none=True) is None


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

    def act(self, step, policy_state, deterministic=False, generator=None):
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
