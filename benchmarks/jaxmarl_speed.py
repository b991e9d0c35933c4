"""Random-legal-action throughput of one JaxMARL environment, `jit(vmap(step))` over copies, on CPU.

Run with the Python of a virtual environment that has JaxMARL (it does not import this project):

    python -m venv .venv-jaxmarl && .venv-jaxmarl/bin/pip install jaxmarl==0.2.0
    .venv-jaxmarl/bin/python benchmarks/jaxmarl_speed.py HeuristicEnemySMAX --scenario 3m --copies 16

It prints one JSON line: environment steps and agent-steps per second (wall clock and process CPU time) and
the compile time. Every step draws each agent's action uniformly among its available ones
(`get_avail_actions`), steps all copies with JaxMARL's own auto-reset, and builds every observation. Steps run
in a `lax.scan` of `--scan` steps per call, so Python dispatch is paid once per call, as JaxMARL's training
loops do. Our benchmark scripts (battle_speed.py, kitchen_speed.py) drive this one as a subprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "env", help="a jaxmarl.make id, e.g. HeuristicEnemySMAX, overcooked, MPE_simple_spread_v3"
    )
    parser.add_argument("--scenario", help="SMAX map name (jaxmarl.environments.smax.map_name_to_scenario)")
    parser.add_argument("--layout", help="overcooked layout name (jaxmarl.environments.overcooked)")
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--scan", type=int, default=100, help="steps per jitted call")
    parser.add_argument("--threads", type=int, default=1, help="XLA CPU threads (1 or all)")
    args = parser.parse_args(argv)
    if args.threads == 1:  # before jax is imported
        os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    import jax
    import jax.numpy as jnp
    import jaxmarl

    kwargs = {}
    if args.scenario:
        from jaxmarl.environments.smax import map_name_to_scenario

        kwargs["scenario"] = map_name_to_scenario(args.scenario)
    if args.layout:
        from jaxmarl.environments.overcooked import overcooked_layouts

        kwargs["layout"] = overcooked_layouts[args.layout]
    env = jaxmarl.make(args.env, **kwargs)
    agents = list(env.agents)

    def available(state):
        try:
            return env.get_avail_actions(state)
        except NotImplementedError:  # e.g. MPE: every action is always legal
            return {a: jnp.ones(env.action_space(a).n, bool) for a in agents}

    def random_legal(key, state):
        avail = available(state)
        keys = jax.random.split(key, len(agents))
        return {
            a: jax.random.categorical(k, jnp.log(jnp.asarray(avail[a], jnp.float32)))
            for a, k in zip(agents, keys, strict=True)
        }

    def one_step(carry, _):
        key, state = carry
        key, act_key, step_key = jax.random.split(key, 3)
        act_keys = jax.random.split(act_key, args.copies)
        step_keys = jax.random.split(step_key, args.copies)
        actions = jax.vmap(random_legal)(act_keys, state)
        _, state, _, _, _ = jax.vmap(env.step)(step_keys, state, actions)
        return (key, state), None

    @jax.jit
    def run(key, state):
        return jax.lax.scan(one_step, (key, state), None, length=args.scan)[0]

    key = jax.random.PRNGKey(0)
    _, state = jax.vmap(env.reset)(jax.random.split(key, args.copies))
    start = time.perf_counter()
    for _ in range(2):  # the second call compiles again: its input state has lost reset()'s weak types
        key, state = jax.block_until_ready(run(key, state))
    compile_seconds = time.perf_counter() - start
    calls, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < args.seconds or calls < 2:
        key, state = jax.block_until_ready(run(key, state))
        calls += 1
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    env_steps = calls * args.scan * args.copies
    result = {
        "env": args.env,
        "scenario": args.scenario,
        "layout": args.layout,
        "copies": args.copies,
        "agents": len(agents),
        "env_steps_wall": env_steps / wall,
        "env_steps_cpu": env_steps / cpu,
        "agent_steps_wall": env_steps * len(agents) / wall,
        "agent_steps_cpu": env_steps * len(agents) / cpu,
        "compile_seconds": compile_seconds,
        "jax": jax.__version__,
        "jaxmarl": getattr(jaxmarl, "__version__", "unknown"),
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
