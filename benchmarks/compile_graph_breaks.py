"""Graph breaks of every family's compiled step, by `torch._dynamo.explain`: where torch.compile splits the step.

For one id per family (or the ids given), the three functions `BatchedEnv.compile` compiles are traced on a
2-copy environment after a reset: `_advance` (the rules, bookkeeping and view of a step), `_view` (the view
after an auto-reset) and `_episode_info` (episode statistics). Writes, per id and function, the number of
graphs and breaks and each break's reason and source line.

    python benchmarks/compile_graph_breaks.py --out benchmarks/results/compile/graph_breaks.json
    python benchmarks/compile_graph_breaks.py --ids battle/2s3z --merge --out benchmarks/results/compile/graph_breaks.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import marl  # noqa: E402
from marl.running.io import atomic_write_text  # noqa: E402

EXTERNAL_FAMILIES = ("mpe2", "smacv2")  # external, unbatched games: nothing to compile


def explain(env_id: str) -> dict[str, dict]:
    """`{function: {"graphs", "breaks", "reasons"}}` for one environment id."""
    env = marl.make(env_id, num_envs=2, seed=0)
    env.reset()
    actions = env.sample_actions()
    report = {}
    for name, fn, args in (
        ("_advance", env._advance, (actions,)),
        ("_view", env._view, ()),
        ("_episode_info", env._episode_info, ()),
    ):
        result = torch._dynamo.explain(fn)(*args)
        reasons = []
        for b in result.break_reasons:
            frame = b.user_stack[-1] if b.user_stack else None
            where = (
                f"{Path(frame.filename).relative_to(Path.cwd()) if frame.filename.startswith(str(Path.cwd())) else frame.filename}:{frame.lineno}"
                if frame
                else ""
            )
            reasons.append({"reason": str(b.reason).splitlines()[0], "at": where})
        report[name] = {"graphs": result.graph_count, "breaks": result.graph_break_count, "reasons": reasons}
    return report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", nargs="*", default=None, help="default: the first id of every family")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--merge", action="store_true", help="keep the other ids already in --out")
    args = parser.parse_args(argv)
    if args.merge and args.out is None:
        parser.error("--merge needs --out (the file whose other ids are kept)")
    ids = args.ids
    if ids is None:
        firsts: dict[str, str] = {}
        for env_id in marl.list_envs():
            firsts.setdefault(env_id.split("/")[0], env_id)
        ids = [i for f, i in firsts.items() if f not in EXTERNAL_FAMILIES]
    record = {"torch": torch.__version__, "ids": {}}
    if args.merge and args.out.exists():
        kept = json.loads(args.out.read_text())
        if kept["torch"] != torch.__version__:
            raise SystemExit(
                f"{args.out} was measured with torch {kept['torch']}, this is {torch.__version__}"
            )
        record["ids"] = kept["ids"]
    for env_id in ids:
        record["ids"][env_id] = explain(env_id)
        breaks = {name: r["breaks"] for name, r in record["ids"][env_id].items()}
        print(env_id, breaks, flush=True)
        if args.out is not None:  # written after every id: a long run keeps what it has
            args.out.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(args.out, json.dumps(record, indent=1) + "\n")
    return record


if __name__ == "__main__":
    main()
