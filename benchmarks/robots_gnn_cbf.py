"""Collect the gnn_cbf comparison on robots/swap (8 robots): trained IPPO + graph network choosing each robot's
CBF gain against the two fixed gains and against the same network trained without a filter (its action the
velocity command), each evaluated with `marl eval` on the same seeds and episodes.

    for s in 0 1 2; do
      marl train experiment=robots_gnn_cbf env=robots/swap total_steps=100000 num_envs=16 seed=$s \
          run_dir=runs/gnn_cbf_swap_$s
      marl eval checkpoint=runs/gnn_cbf_swap_$s eval_episodes=12
      marl train experiment=robots_gnn_cbf env=robots/swap env.control=command total_steps=100000 \
          num_envs=16 seed=$s run_dir=runs/rl_no_filter_swap_$s
      marl eval checkpoint=runs/rl_no_filter_swap_$s eval_episodes=12
      for g in conservative aggressive; do
        marl eval env=robots/swap env.n_agents=8 env.control=gain algo=robots_cbf_$g num_envs=16 seed=$s \
            eval_episodes=12 run_dir=runs/fixed_${g}_$s
      done
    done
    python benchmarks/robots_gnn_cbf.py --runs runs --transfer 32 128

With `--transfer`, each trained policy also runs unchanged on robots/swap with more robots (the graph network
has no agent ids), beside the fixed gains there (same seeds, `--episodes` episodes each).
Writes benchmarks/results/robots/gnn_cbf_swap8.json (per seed) and .md (means over seeds).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import envs.robots  # noqa: E402
from envs.robots.controllers import AggressiveConfig, ConservativeConfig, FixedGainCBF  # noqa: E402
from marl.learning.algorithm import evaluate  # noqa: E402
from marl.running.io import atomic_write_text  # noqa: E402
from marl.running.rundir import load_checkpoint_file, resolve_checkpoint  # noqa: E402
from marl.running.trainer import build  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "robots"
METRICS = (
    "success_rate",
    "robot_collisions",
    "time_to_goal",
    "deadlocks",
    "infeasible_steps",
    "episode_length",
)
POLICIES = {"gnn_cbf": "gnn_cbf_swap_{seed}", "cbf_conservative": "fixed_conservative_{seed}"}
POLICIES["cbf_aggressive"] = "fixed_aggressive_{seed}"
POLICIES["rl_no_filter"] = "rl_no_filter_swap_{seed}"


def means(episodes: dict[str, list[float]]) -> dict[str, float]:
    return {m: round(sum(episodes[m]) / len(episodes[m]), 4) for m in METRICS}


def transfer(run: Path, name: str, robots: int, seed: int, episodes: int) -> list[dict]:
    """The checkpoint's policy on robots/swap with `robots` robots, and the two fixed gains there when the
    checkpoint's environment has the gain as its action."""
    import torch
    from omegaconf import OmegaConf

    source, path = resolve_checkpoint(run)
    cfg = OmegaConf.merge(OmegaConf.create(source.read_config()), {"env": {"n_agents": robots}})
    env, policy, _, _ = build(cfg, episodes, seed)
    policy.load_state_dict(load_checkpoint_file(path, map_location="cpu")["algorithm"])
    actors = [(name, policy)]
    if env.gain_control:
        actors += [
            ("cbf_conservative", FixedGainCBF(env, ConservativeConfig(), env.device)),
            ("cbf_aggressive", FixedGainCBF(env, AggressiveConfig(), env.device)),
        ]
    rows = []
    with torch.no_grad():
        for label, actor in actors:
            result = evaluate(actor, env, episodes, deterministic=True, seed=seed)
            rows.append(
                {"policy": label, "robots": robots, "seed": seed, "episodes": episodes} | means(result)
            )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--machine", default="2-core x86_64 CPU, shared with other jobs")
    parser.add_argument("--transfer", nargs="*", type=int, default=[], help="robots to run the policies on")
    parser.add_argument("--episodes", type=int, default=8, help="episodes per seed in the transfer runs")
    args = parser.parse_args(argv)
    envs.robots.register()
    envs.robots.register_baselines()
    rows = []
    for policy, pattern in POLICIES.items():
        for seed in args.seeds:
            episodes = json.loads((args.runs / pattern.format(seed=seed) / "eval.json").read_text())
            deterministic = episodes["episodes"]["deterministic"]
            count = len(deterministic["success_rate"])
            rows.append(
                {"policy": policy, "robots": 8, "seed": seed, "episodes": count} | means(deterministic)
            )
    for robots in args.transfer:
        for seed in args.seeds:
            for name in ("gnn_cbf", "rl_no_filter"):
                run = args.runs / POLICIES[name].format(seed=seed)
                rows += transfer(run, name, robots, seed, args.episodes)
            print(rows[-4:], flush=True)
    meta = {"scenario": "robots/swap", "trained_on_robots": 8, "machine": args.machine, "commands": __doc__}
    atomic_write_text(
        RESULTS / "gnn_cbf_swap8.json", json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n"
    )
    lines = ["| robots | policy | " + " | ".join(METRICS) + " |", "|---|---|" + "---|" * len(METRICS)]
    for robots in [8, *args.transfer]:
        for policy in POLICIES:
            cell = [r for r in rows if (r["policy"], r["robots"]) == (policy, robots)]
            values = [sum(r[m] for r in cell) / len(cell) for m in METRICS]
            lines.append(f"| {robots} | {policy} | " + " | ".join(f"{v:.3g}" for v in values) + " |")
    atomic_write_text(RESULTS / "gnn_cbf_swap8.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
