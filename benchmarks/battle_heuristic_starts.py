"""The heuristic against itself: the allies' win rate by start pattern (reflect or surrounded).

Each of `--copies` copies plays its first battle with `BattleEnv.heuristic_actions` on both sides (self-play
mode); the allies' win rate is reported apart for the copies that started "reflect" and "surrounded".

    python benchmarks/battle_heuristic_starts.py   # writes benchmarks/results/battle/battle_heuristic_starts.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from envs.battle import BattleConfig, BattleEnv  # noqa: E402
from envs.battle.scenarios import MAP_SIZE  # noqa: E402
from marl.running.io import atomic_write_text  # noqa: E402


def first_battles(scenario: str, copies: int, seed: int) -> dict[str, float | int]:
    env = BattleEnv(scenario, BattleConfig(opponent="self_play"), num_envs=copies, seed=seed)
    env.reset()
    surrounded = (env.pos[:, : env.n_allies] == MAP_SIZE / 2).all(-1).all(-1)
    won = torch.full((copies,), -1.0)
    while bool((won < 0).any()):
        step = env.step({"allies": env.heuristic_actions(0), "enemies": env.heuristic_actions(1)})
        if step.info:
            first = step.done & (won < 0)
            won[first] = step.info["battle_won"][first]
    return {
        "surrounded_battles": int(surrounded.sum()),
        "surrounded_win_rate": round(won[surrounded].mean().item(), 3),
        "reflect_battles": int((~surrounded).sum()),
        "reflect_win_rate": round(won[~surrounded].mean().item(), 3),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", nargs="+", default=["protoss_5_vs_5", "terran_5_vs_5", "zerg_5_vs_5"])
    parser.add_argument("--copies", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rows = [{"scenario": s, **first_battles(s, args.copies, args.seed)} for s in args.scenarios]
    result = {
        "what": "allies' win rate in the first battle of each copy, the heuristic on both sides, by start",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": shlex.join(
            ["python", "benchmarks/battle_heuristic_starts.py", *(sys.argv[1:] if argv is None else argv)]
        ),
        "rows": rows,
    }
    out = ROOT / "benchmarks" / "results" / "battle" / "battle_heuristic_starts.json"
    atomic_write_text(out, json.dumps(result, indent=1) + "\n")
    print(json.dumps(rows, indent=1))
    return result


if __name__ == "__main__":
    main()
