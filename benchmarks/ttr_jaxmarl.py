"""Time-to-return runner for JaxMARL's MAPPO baseline (driven by benchmarks/time_to_return.py).

Run with the python of a virtual environment holding jaxmarl, distrax, hydra-core and omegaconf (not this
project's environment), given the baseline file of a JaxMARL checkout:

    .venv-jaxmarl/bin/python benchmarks/ttr_jaxmarl.py --baseline JAXMARL/baselines/MAPPO/mappo_rnn_mpe.py \
        --seed 0 --num-envs 16

It loads the baseline's own config (`config/mappo_homogenous_rnn_mpe.yaml` beside the file: MPE_simple_spread_v3,
JaxMARL's defaults 3 agents, local_ratio 0.5, 25 steps, discrete actions), sets only `SEED` and `NUM_ENVS`,
and runs the baseline's `make_train` under `jax.jit` unchanged. The baseline reports through `wandb.log` once per
update: a stand-in `wandb` module receives those reports and prints one JSON line each, `{"steps": environment
steps after the update (summed over copies), "return": the per-agent training return}`. JaxMARL's
`MPELogWrapper` multiplies every reward by the number of agents before summing it into the logged return
("as per on-policy codebase"), so the line divides by that number: the result is the mean per-agent episode
return, the quantity this suite and BenchMARL report.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import types
from pathlib import Path

import jax
from omegaconf import OmegaConf


def _stand_in_wandb(num_agents: int, steps_per_update: int) -> types.ModuleType:
    """A `wandb` module whose `log` prints the baseline's report as a JSON line (wandb itself is not needed)."""

    def log(values: dict, *args: object, **kwargs: object) -> None:
        # the baseline logs env_step = update_index * NUM_ENVS * NUM_STEPS, before the update's steps count
        steps = int(values["env_step"]) + steps_per_update
        print(json.dumps({"steps": steps, "return": float(values["returns"]) / num_agents}), flush=True)

    module = types.ModuleType("wandb")
    module.log = log
    module.init = lambda *args, **kwargs: None
    return module


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--baseline", type=Path, required=True, help="JaxMARL's baselines/MAPPO/mappo_rnn_mpe.py"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-envs", type=int, default=16, help="parallel copies (the baseline's NUM_ENVS)")
    args = parser.parse_args()
    config_file = args.baseline.parent / "config" / "mappo_homogenous_rnn_mpe.yaml"
    if not args.baseline.is_file() or not config_file.is_file():
        raise SystemExit(f"expected the baseline file and {config_file}; got --baseline {args.baseline}")
    config = OmegaConf.to_container(OmegaConf.load(config_file))  # as the baseline's main() reads it
    config["SEED"], config["NUM_ENVS"] = args.seed, args.num_envs
    num_agents = 3  # MPE_simple_spread_v3's default, which the baseline's empty ENV_KWARGS keeps
    if config["ENV_NAME"] != "MPE_simple_spread_v3" or config["ENV_KWARGS"]:
        raise SystemExit(f"the baseline config is not default simple_spread: {config}")
    sys.modules["wandb"] = _stand_in_wandb(num_agents, config["NUM_ENVS"] * config["NUM_STEPS"])
    spec = importlib.util.spec_from_file_location("mappo_rnn_mpe", args.baseline)
    baseline = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(baseline)
    print(json.dumps({"config": config}), flush=True)
    train = jax.jit(baseline.make_train(config))
    jax.block_until_ready(train(jax.random.PRNGKey(args.seed)))


if __name__ == "__main__":
    main()
