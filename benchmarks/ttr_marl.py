"""Time-to-return runner for this suite's MAPPO (driven by benchmarks/time_to_return.py).

    python benchmarks/ttr_marl.py --seed 0 --num-envs 16 [--max-steps 10000000]

Trains MAPPO on `mpe/simple_spread` (3 agents, local_ratio 0.5, 25-step episodes, discrete actions) with the
algorithm's default hyperparameters (configs/algo/mappo.yaml) and prints one JSON line per training
iteration: `{"steps": environment steps so far (summed over copies), "return": mean per-agent return of
the episodes that ended in the iteration (stochastic policy), "episodes": how many}`. It runs until
`--max-steps` or until the driver stops it; the driver times the lines.
"""

from __future__ import annotations

import argparse
import json

import marl


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-envs", type=int, default=16, help="parallel copies")
    parser.add_argument("--max-steps", type=int, default=10_000_000, help="stop after this many steps")
    args = parser.parse_args()
    experiment = marl.Experiment(
        env={"id": "mpe/simple_spread", "n_agents": 3, "local_ratio": 0.5, "max_steps": 25},
        algo="mappo",
        experiment=None,
        num_envs=args.num_envs,
        seed=args.seed,
        torch_threads=1,
    )
    algo, steps = experiment.algo, 0
    while steps < args.max_steps:
        steps += algo.train_iteration().env_steps
        episodes = algo.episodes.pop()
        if episodes:
            record = {"steps": steps, "return": episodes["episode_return"], "episodes": episodes["episodes"]}
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
