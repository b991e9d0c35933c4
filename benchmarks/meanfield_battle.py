"""MF-Q, MF-AC and IPPO on MAgent's battle, then cross-play: each trained army against each other.

Yang et al. (2018) train each algorithm in self-play on a 40 x 40 battle of 64 vs 64 for 2,000 rounds of
400 steps, then put the armies of different algorithms against each other. Sized for a shared 2-core CPU,
this is the same game reduced: a 20 x 20 map with the armies 1 cell (battle_v4: 3) either side of the centre
line (16 vs 16, in view of each other from the start: at battle_v4's distance no algorithm met the enemy
within this budget, and random play kills nobody in 100 steps), 100-step episodes, and `--steps` environment
steps (summed over `--envs` copies) of self-play training per algorithm and seed. Both
armies of a run learn (red and blue, one network each); MF-Q and MF-AC read the mean action of the agent's
`neighbours` (the 8 nearest team-mates within the view radius 6).

    python benchmarks/meanfield_battle.py train --seed 0      # one seed's three runs -> --checkpoints
    python benchmarks/meanfield_battle.py crossplay           # -> benchmarks/results/meanfield_battle/crossplay.json
    (or one pair per process, `crossplay --algos mfq mfac --out F1` ..., then `merge --inputs F1 F2 F3`)
    python benchmarks/meanfield_battle.py scale               # -> benchmarks/results/meanfield_battle/scale.json
    python benchmarks/meanfield_battle.py table               # the cross-play table of docs/algorithms.md

Cross-play: for every pair of algorithms (A, B) and every pair of seeds, A's red army plays B's blue army and
B's red army plays A's blue army (`--episodes` episodes each, stochastic policies); A wins an episode when it
has more agents left at the end (a wipe-out, or more survivors when time runs out). Reported per pair: A's
win rate, draw rate and kill ratio (A's kills over B's, summed over episodes), each as the mean over the
seed pairs with a 95% bootstrap interval over seed pairs.

Scale: the battle on one copy of a 120 x 120 map (576 vs 576, 1,152 agents): environment steps per second
with random actions, and MF-Q's acting and training steps per second on it.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import marl  # noqa: E402
from algos import ppo  # noqa: E402
from algos.meanfield import MFAC, MFQ  # noqa: E402
from envs import magent  # noqa: E402
from marl.core import registry  # noqa: E402
from marl.learning.algorithm import Algorithm, RandomConfig, RandomPolicy, evaluate  # noqa: E402
from marl.running.io import atomic_write_json  # noqa: E402

ALGOS = ("mfq", "mfac", "ippo")
CONFIGS: dict[str, dict[str, Any]] = {
    "mfq": {"rollout_steps": 4, "updates_per_iteration": 2, "batch_size": 32, "mean_action": "neighbours"},
    "mfac": {"rollout_length": 16, "mean_action": "neighbours"},
    "ippo": {"rollout_length": 32},
}
RESULTS = Path("benchmarks/results/meanfield_battle")


def battle(
    num_envs: int, seed: int, map_size: int = 20, max_steps: int = 100, gap: int = 1
) -> marl.BatchedEnv:
    return marl.make(
        "magent/battle", num_envs=num_envs, map_size=map_size, max_steps=max_steps, gap=gap, seed=seed
    )


def make_algo(name: str, env: marl.BatchedEnv) -> Algorithm:
    if name == "mfq":
        return MFQ(env, CONFIGS[name], "cpu")
    if name == "mfac":
        return MFAC(env, CONFIGS[name], "cpu")
    return registry.algo_entry(name).factory(env, CONFIGS[name], "cpu")


def train(args: argparse.Namespace) -> None:
    """Train each algorithm in self-play for `--steps` environment steps; checkpoint both armies."""
    args.checkpoints.mkdir(parents=True, exist_ok=True)
    for name in args.algos:
        torch.manual_seed(args.seed)
        algo = make_algo(name, battle(args.envs, args.seed))
        start, steps, curve, next_report = time.perf_counter(), 0, [], 0
        while steps < args.steps:
            steps += algo.train_iteration().env_steps
            if steps >= next_report:  # the training episodes' statistics, ten times per run
                stats = algo.episodes.pop()
                if stats:
                    keys = (
                        "episode_return/red",
                        "episode_return/blue",
                        "red_kills",
                        "blue_kills",
                        "episode_length",
                    )
                    curve.append({"env_steps": steps, **{k: round(stats[k], 3) for k in keys}})
                    next_report += args.steps // 10
        seconds = time.perf_counter() - start
        torch.save(
            {
                "state": algo.state_dict(),
                "steps": steps,
                "copies": args.envs,
                "seconds": seconds,
                "curve": curve,
            },
            args.checkpoints / f"{name}_seed{args.seed}.pt",
        )
        print(f"{name} seed {args.seed}: {steps} env steps in {seconds:.0f} s", flush=True)


class Matchup(Algorithm):
    """Two trained algorithms in one battle: the red army acts by `red`, the blue army by `blue`."""

    def __init__(self, red: Algorithm, blue: Algorithm) -> None:
        self.red, self.blue = red, blue

    def initial_policy_state(self, num_envs: int) -> Any:
        return self.red.initial_policy_state(num_envs), self.blue.initial_policy_state(num_envs)

    def act(self, step, policy_state, deterministic=False, generator=None):
        red, red_state = self.red.act(step, policy_state[0], deterministic, generator)
        blue, blue_state = self.blue.act(step, policy_state[1], deterministic, generator)
        return {"red": red["red"], "blue": blue["blue"]}, (red_state, blue_state)


def load(name: str, seed: int, env: marl.BatchedEnv, checkpoints: Path) -> Algorithm:
    if name == "random":  # the untrained baseline: uniformly random actions
        return RandomPolicy(env, RandomConfig(), "cpu")
    algo = make_algo(name, env)
    algo.load_state_dict(torch.load(checkpoints / f"{name}_seed{seed}.pt", weights_only=False)["state"])
    return algo


def bootstrap(values: list[float], rng: np.random.Generator, draws: int = 2000) -> list[float]:
    """95% percentile bootstrap interval of the mean."""
    data = np.asarray(values, dtype=float)
    means = data[rng.integers(len(data), size=(draws, len(data)))].mean(1)
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def crossplay(args: argparse.Namespace) -> None:
    """Every algorithm's armies against every other's (both sides, every seed pair)."""
    env = battle(args.envs, 1000)
    rng = np.random.default_rng(0)
    trained = {(a, s): load(a, s, env, args.checkpoints) for a in args.algos for s in args.seeds}
    pairs = {}
    for a, b in itertools.combinations(args.algos, 2):
        wins, draws, ratios, kills = [], [], [], {"a": 0.0, "b": 0.0}
        for sa, sb in itertools.product(args.seeds, args.seeds):
            won = drawn = a_kills = b_kills = 0.0
            games = 0
            for a_side in ("red", "blue"):
                red, blue = (
                    (trained[a, sa], trained[b, sb]) if a_side == "red" else (trained[b, sb], trained[a, sa])
                )
                b_side = "blue" if a_side == "red" else "red"
                stats = evaluate(
                    Matchup(red, blue), env, args.episodes, deterministic=False, seed=sa * 10 + sb
                )
                won += sum(stats[f"{a_side}_win"])
                drawn += sum(1.0 - x - y for x, y in zip(stats["red_win"], stats["blue_win"], strict=True))
                a_kills += sum(stats[f"{a_side}_kills"])
                b_kills += sum(stats[f"{b_side}_kills"])
                games += len(stats["red_win"])
            wins.append(won / games)
            draws.append(drawn / games)
            ratios.append(a_kills / max(b_kills, 1.0))
            kills["a"] += a_kills
            kills["b"] += b_kills
        pairs[f"{a}_vs_{b}"] = {
            "win_rate": statistics.mean(wins),
            "win_rate_ci95": bootstrap(wins, rng),
            "draw_rate": statistics.mean(draws),
            "kill_ratio": statistics.mean(ratios),
            "kill_ratio_ci95": bootstrap(ratios, rng),
            "kills": kills,
            "seed_pairs": len(wins),
            "win_rate_per_seed_pair": wins,
        }
        print(a, "vs", b, pairs[f"{a}_vs_{b}"]["win_rate"], pairs[f"{a}_vs_{b}"]["kill_ratio"], flush=True)
    training = {
        f"{a}_seed{s}": {
            k: v
            for k, v in torch.load(args.checkpoints / f"{a}_seed{s}.pt", weights_only=False).items()
            if k != "state"
        }
        for a in args.algos
        for s in args.seeds
        if a != "random"
    }
    atomic_write_json(
        args.out or RESULTS / "crossplay.json",
        {
            "command": "python benchmarks/meanfield_battle.py train --seed S (S in seeds); then crossplay "
            "(here one process per pair of algorithms: crossplay --algos A B --out F, then merge --inputs F...)",
            "setting": "magent/battle map_size=20 gap=1 (16 vs 16), max_steps=100; self-play, both armies learn",
            "reduction": "Yang et al.: 40 x 40, 64 vs 64 (gap 3), 400 steps, 2,000 rounds; "
            "here 20 x 20, 16 vs 16 (gap 1), 100 steps",
            "configs": CONFIGS,
            "episodes_per_side_per_seed_pair": args.episodes,
            "seeds": args.seeds,
            "policies": "stochastic (Boltzmann at the training temperature for MF-Q, sampled for MF-AC and IPPO)",
            "win": "more agents left at the end of the episode",
            "pairs": pairs,
            "training": training,
            "machine": args.machine,
            "load_average": os.getloadavg(),
            "torch": torch.__version__,
        },
    )


class Clock:
    """Wall-clock and process CPU seconds of a block: on a shared machine the CPU rate is the steadier one."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: Any) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    def rates(self, count: float, name: str) -> dict[str, float]:
        return {f"{name}_per_s": count / self.wall, f"{name}_per_cpu_s": count / self.cpu}


def scale(args: argparse.Namespace) -> None:
    """Throughput at 1,152 agents in one copy: random environment steps, MF-Q acting and training."""
    env = battle(1, 0, map_size=120, max_steps=1000, gap=3)
    agents, n = env.n_total, args.scale_steps
    env.reset()
    actions = [env.sample_actions() for _ in range(n)]
    for a in actions[:3]:  # warm-up: the first calls of each tensor operation are slower
        env.step(a)
    with Clock() as random_steps:
        for a in actions:
            env.step(a)
    torch.manual_seed(0)
    algo = MFQ(battle(1, 0, 120, 1000, 3), {"learning_starts": 4, "batch_size": 4, "rollout_steps": 4}, "cpu")
    step, state = algo.env.reset(), None
    for _ in range(3):  # warm-up
        actions_now, state = algo.act(step, state)
        step = algo.env.step(actions_now)
    with Clock() as acting:
        for _ in range(n):
            actions_now, state = algo.act(step, state)
            step = algo.env.step(actions_now)
    algo.train_iteration()  # fills the buffer to learning_starts
    updates, steps = algo.updates, 0
    with Clock() as training:
        for _ in range(max(1, n // 4)):
            steps += algo.train_iteration().env_steps
    result = {
        "command": "python benchmarks/meanfield_battle.py " + " ".join(sys.argv[1:]),
        "setting": "magent/battle map_size=120: 576 vs 576 agents in one copy, MF-Q with neighbour mean actions",
        "agents_per_copy": agents,
        "random_actions": random_steps.rates(n, "env_steps") | random_steps.rates(n * agents, "agent_steps"),
        "mfq_acting": acting.rates(n, "env_steps") | acting.rates(n * agents, "agent_steps"),
        "mfq_training": training.rates(steps, "env_steps")
        | training.rates(steps * agents, "agent_steps")
        | training.rates(algo.updates - updates, "updates"),
        "mfq_train_config": {"rollout_steps": 4, "updates_per_iteration": 1, "batch_size": 4},
        "timed_steps": n,
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
        "machine": args.machine,
        "load_average": os.getloadavg(),
        "torch": torch.__version__,
    }
    print(result, flush=True)
    atomic_write_json(args.out or RESULTS / "scale.json", result)


def merge(args: argparse.Namespace) -> None:
    """One cross-play file from several (cross-play of separate pairs of algorithms, run in parallel)."""
    import json

    parts = [json.loads(path.read_text()) for path in args.inputs]
    merged = parts[0]
    for part in parts[1:]:
        merged["pairs"] |= part["pairs"]
        merged["training"] |= part["training"]
    merged["load_average"] = os.getloadavg()
    atomic_write_json(args.out or RESULTS / "crossplay.json", merged)


def table(args: argparse.Namespace) -> None:
    """The cross-play result as the markdown table of docs/algorithms.md."""
    import json

    result = json.loads((args.out or RESULTS / "crossplay.json").read_text())
    print("| A vs B | A's win rate [95% CI] | draws | A's kills / B's kills [95% CI] | kills A : B |")
    print("|---|---|---|---|---|")
    for pair, cell in result["pairs"].items():
        a, b = pair.split("_vs_")
        win, ratio = cell["win_rate_ci95"], cell["kill_ratio_ci95"]
        print(
            f"| {a} vs {b} | {cell['win_rate']:.2f} [{win[0]:.2f}, {win[1]:.2f}] | {cell['draw_rate']:.2f} | "
            f"{cell['kill_ratio']:.2f} [{ratio[0]:.2f}, {ratio[1]:.2f}] | "
            f"{cell['kills']['a']:.0f} : {cell['kills']['b']:.0f} |"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=("train", "crossplay", "merge", "scale", "table"))
    parser.add_argument("--algos", nargs="+", default=list(ALGOS), choices=[*ALGOS, "random"])
    parser.add_argument("--seed", type=int, default=0, help="train: the seed of this process's runs")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="crossplay: the seeds")
    parser.add_argument("--steps", type=int, default=24_000, help="training env steps (summed over copies)")
    parser.add_argument("--envs", type=int, default=16, help="copies (training and cross-play)")
    parser.add_argument("--episodes", type=int, default=16, help="cross-play episodes per side per seed pair")
    parser.add_argument("--scale-steps", type=int, default=40, help="timed steps of the scale check")
    parser.add_argument("--checkpoints", type=Path, default=Path("/tmp/meanfield_battle"))
    parser.add_argument("--machine", default="2-core x86_64 CPU, shared with other jobs")
    parser.add_argument("--inputs", nargs="+", type=Path, default=[], help="merge: cross-play files")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    magent.register()
    ppo.register()
    phases = {"train": train, "crossplay": crossplay, "merge": merge, "scale": scale, "table": table}
    phases[args.phase](args)


if __name__ == "__main__":
    torch.set_num_threads(1)  # one thread, as the shared machine gives each job
    main()
