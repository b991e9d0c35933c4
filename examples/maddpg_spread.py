"""Train MADDPG (or independent DDPG) on cooperative navigation with `marl.Experiment` and evaluate it.

python examples/maddpg_spread.py --total-steps 60000            # about a minute on one CPU core
python examples/maddpg_spread.py --independent --ensemble-size 3
"""

from __future__ import annotations

import argparse

import marl


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--total-steps", type=int, default=60_000)
    parser.add_argument("--num-envs", type=int, default=32)
    parser.add_argument("--continuous", action="store_true", help="continuous actions instead of Discrete(5)")
    parser.add_argument("--independent", action="store_true", help="independent DDPG (local critics)")
    parser.add_argument("--ensemble-size", type=int, default=1, help="sub-policies per agent")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    experiment = marl.Experiment(
        env={"id": "mpe/simple_spread", "continuous_actions": args.continuous},
        # a small budget: learn from the 1,000th transition on, one update of 256 per 20 transitions
        algo={
            "name": "maddpg",
            "centralised_critic": not args.independent,
            "ensemble_size": args.ensemble_size,
            "learning_starts": 1000,
            "batch_size": 256,
            "transitions_per_update": 20,
            "noise_std": 0.3 if args.continuous else 0.1,
        },
        num_envs=args.num_envs,
        total_steps=args.total_steps,
        log_every=10_000,  # one metrics row per 10,000 steps
        eval_episodes=100,
        seed=args.seed,
    )
    experiment.run()
    for row in experiment.metrics:
        print(
            f"{row['step']:>8} steps  return {row.get('train/episode_return', float('nan')):7.2f}  critic loss "
            f"{row.get('critic_loss', float('nan')):.3f}"
        )
    summary = {name: sum(values) / len(values) for name, values in experiment.results.items()}
    print({name: round(value, 3) for name, value in summary.items()})
    return summary


if __name__ == "__main__":
    main()
