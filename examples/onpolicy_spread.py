"""Train MAPPO on mpe/simple_spread with `marl.Experiment` (102,400 environment steps), then evaluate it.

    python examples/onpolicy_spread.py [--total-steps 102400]

The same run as `marl train env=mpe/simple_spread algo=mappo num_envs=32 total_steps=102400`: one loop, one
run directory (resolved config, metrics.csv, TensorBoard, results.json, checkpoint). See docs/running.md.
"""

import argparse

import marl

parser = argparse.ArgumentParser(description="Train MAPPO on mpe/simple_spread, then evaluate it.")
parser.add_argument("--total-steps", type=int, default=102_400)
args = parser.parse_args()

experiment = marl.Experiment(
    env="mpe/simple_spread",
    algo="mappo",
    num_envs=32,  # 32 copies x 32 steps of rollout: 1,024 environment steps per iteration
    total_steps=args.total_steps,
    eval_episodes=32,
    seed=0,
)
run_dir = experiment.run()  # run it again with run_dir=... of a killed run and it resumes
for evaluation in experiment.evaluations:
    mean = sum(evaluation["return"]) / len(evaluation["return"])
    print(f"step {evaluation['step_count']:>7,}: evaluation return {mean:.2f}")
row = experiment.metrics[-1]  # the last row of metrics.csv
print(
    f"training episodes: return {row['train/episode_return']:.2f}, {row['time/steps_per_second']:,.0f} steps/s"
)
sampled = experiment.evaluate(deterministic=False)  # the stochastic policy on the same evaluation episodes
print(f"sampled actions: return {sum(sampled['episode_return']) / len(sampled['episode_return']):.2f}")
