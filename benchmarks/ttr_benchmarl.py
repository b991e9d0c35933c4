"""Time-to-return runner for BenchMARL's MAPPO (driven by benchmarks/time_to_return.py).

Run with the python of a virtual environment holding benchmarl, torchrl and pettingzoo[mpe]==1.24.3 (not this
project's environment):

    .venv-benchmarl/bin/python benchmarks/ttr_benchmarl.py --seed 0 --num-envs 16

BenchMARL's `pettingzoo/simple_spread` task (PettingZoo's MPE `simple_spread_v3` through TorchRL's
`PettingZooEnv`: the game this suite's `mpe/simple_spread` is ported from) and BenchMARL's default MAPPO,
MLP and experiment configs (`get_from_yaml`), changed only where the comparison needs it:

- `max_cycles: 25` (BenchMARL's task file sets 100; 25 is PettingZoo's, JaxMARL's and this suite's episode),
- `prefer_continuous_actions: False` (discrete actions, as in the other two),
- `on_policy_n_envs_per_worker: --num-envs` (PettingZoo is not vectorised: BenchMARL steps the copies one after
  another in one process),
- no evaluation, rendering, checkpoints or loggers (the comparison reads the training return, which the
  others report too), a large `max_n_frames` (the driver stops the run).

It prints one JSON line per collection, `{"steps": frames collected so far (environment steps summed over
copies), "return": BenchMARL's `collection/reward/episode_reward_mean`}`: the return of the episodes that ended
in the batch, averaged over agents, as `Logger.log_collection` returns it.
"""

from __future__ import annotations

import argparse
import json
import tempfile

import torch
from benchmarl.algorithms import MappoConfig
from benchmarl.environments import PettingZooTask
from benchmarl.experiment import Experiment, ExperimentConfig
from benchmarl.models.mlp import MlpConfig


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--num-envs", type=int, default=16, help="parallel copies (on_policy_n_envs_per_worker)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    task = PettingZooTask.SIMPLE_SPREAD.get_from_yaml()
    task.config.update({"max_cycles": 25, "N": 3, "local_ratio": 0.5})
    config = ExperimentConfig.get_from_yaml()
    config.prefer_continuous_actions = False
    config.on_policy_n_envs_per_worker = args.num_envs
    config.max_n_frames = 100_000_000
    config.evaluation = False
    config.render = False
    config.loggers = []
    config.create_json = False
    config.checkpoint_interval = 0
    config.checkpoint_at_end = False
    config.save_folder = tempfile.mkdtemp(prefix="ttr_benchmarl_")
    experiment = Experiment(
        task=task,
        algorithm_config=MappoConfig.get_from_yaml(),
        model_config=MlpConfig.get_from_yaml(),
        critic_model_config=MlpConfig.get_from_yaml(),
        seed=args.seed,
        config=config,
    )
    log_collection = experiment.logger.log_collection

    def report(batch, task, total_frames: int, step: int) -> float:
        mean_return = log_collection(batch, task=task, total_frames=total_frames, step=step)
        print(json.dumps({"steps": total_frames, "return": mean_return}), flush=True)
        return mean_return

    experiment.logger.log_collection = report
    print(
        json.dumps(
            {
                "task": dict(task.config),
                "experiment": {"lr": config.lr, "frames": config.on_policy_collected_frames_per_batch},
            }
        ),
        flush=True,
    )
    experiment.run()


if __name__ == "__main__":
    main()
