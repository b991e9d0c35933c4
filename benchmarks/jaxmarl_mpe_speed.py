"""JaxMARL's simple_spread under jit + vmap, random discrete actions: agent-steps per second per batch size.

Run by benchmarks/compile_speed.py with the Python of JaxMARL's own virtual environment (JaxMARL and JAX are
never installed into the project's); it prints one JSON object. The step is JaxMARL's `MPE_simple_spread_v3`
(3 agents, max 25 steps, auto-reset inside `step`), actions drawn with `action_space(agent).sample`, the whole
(sample + step) jitted and vmapped over the copies; compile time is the first call's.

    .venv-jaxmarl/bin/python benchmarks/jaxmarl_mpe_speed.py --batch-sizes 1 16 256 --seconds 1
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jaxmarl


def measure(num_envs: int, seconds: float, min_steps: int) -> dict[str, float]:
    """Agent-steps/s of the jitted, vmapped step of `num_envs` copies, and its compile time in seconds."""
    env = jaxmarl.make("MPE_simple_spread_v3")
    agents = env.agents

    def one(key, state):
        key, act_key, step_key = jax.random.split(key, 3)
        keys = jax.random.split(act_key, len(agents))
        actions = {a: env.action_space(a).sample(keys[i]) for i, a in enumerate(agents)}
        _, state, reward, dones, _ = env.step(step_key, state, actions)
        return key, state, reward

    keys = jax.random.split(jax.random.PRNGKey(0), num_envs)
    _, state = jax.jit(jax.vmap(env.reset))(keys)
    step = jax.jit(jax.vmap(one))
    start = time.perf_counter()
    keys, state, reward = jax.block_until_ready(step(keys, state))
    compile_s = time.perf_counter() - start
    for _ in range(3):
        keys, state, reward = step(keys, state)
    jax.block_until_ready(reward)
    start, steps = time.perf_counter(), 0
    while steps < min_steps or time.perf_counter() - start < seconds:
        keys, state, reward = step(keys, state)
        steps += 1
        if steps % 10 == 0:
            jax.block_until_ready(reward)
    jax.block_until_ready(reward)
    rate = steps / (time.perf_counter() - start)
    return {"agent_steps_per_s": rate * num_envs * len(agents), "compile_s": compile_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", required=True)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--min-steps", type=int, default=5)
    args = parser.parse_args()
    results = {str(b): measure(b, args.seconds, args.min_steps) for b in args.batch_sizes}
    print(
        json.dumps({"jax": jax.__version__, "devices": [str(d) for d in jax.devices()], "results": results})
    )


if __name__ == "__main__":
    main()
