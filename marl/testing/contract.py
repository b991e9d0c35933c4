"""The batched contract, checked on any environment: spaces, seeding, masked auto-reset, batched operations,
actions (legal ones accepted, bad ones rejected clearly) and rendering."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from marl.core.env import BatchedEnv, GroupSpec, Neighbours, Step
from marl.testing.harness import CheckSkipped, Subject, conformance_check, require, require_none
from marl.testing.tensors import (
    OBSERVATION,
    observation_fields,
    observation_spaces,
    step_fields,
    torch_dtype,
)

# extra copies the batched-operations check adds: a Python loop over copies would run at least this many
# more lines per call
EXTRA_COPIES = 256
# how long the auto-reset check waits for an episode to end in an environment without max_steps
UNTIL_AN_EPISODE_ENDS = 1000


# ====================================================================== spaces
@conformance_check("spaces")
def check_spaces(subject: Subject) -> None:
    """Spaces are cached (the same object every call) and every tensor of reset and step matches them."""
    env = subject.make()
    for agent in env.possible_agents:
        spec = env.group_specs[env.group_of(agent)]
        for kind, space_of, own in (
            ("observation_space", env.observation_space, spec.observation_space),
            ("action_space", env.action_space, spec.action_space),
        ):
            space = space_of(agent)
            require(space is space_of(agent), f"{kind}({agent!r}) returns a new object at each call")
            require(space == own, f"{kind}({agent!r}) is {space}, but its group's spec says {own}")
    require(env.state_space is env.state_space, "state_space returns a new object at each access")
    require(isinstance(env.state_space, gym.spaces.Box), f"state_space must be a Box, got {env.state_space}")
    step = env.reset(seed=subject.seed)
    check_step_layout(env, step, "reset")
    for t in range(subject.steps):
        step = env.step(env.sample_actions())
        check_step_layout(env, step, f"step {t + 1}")


def check_step_layout(env: BatchedEnv, step: Step, when: str) -> None:
    """Every tensor of `step` has the shape, dtype, device and (for observations and state) the bounds its
    space gives."""
    B = env.num_envs
    require(isinstance(step, Step), f"{when}: expected a marl.Step, got {type(step).__name__}")
    groups = list(step.groups)
    require(groups == list(env.group_specs), f"{when}: groups {groups}, expected {list(env.group_specs)}")
    for g, spec in env.group_specs.items():
        gs, n, where = step[g], spec.n, f"{when}, group {g!r}"
        finals = [] if step.final_obs is None else [("final_obs", step.final_obs[g])]
        for name, obs in [("obs", gs.obs), *finals]:
            fields = observation_fields(obs, spec.observation_space, f"{where} {name}")
            for key, box in observation_spaces(spec.observation_space).items():
                label = f"{where} {name}{f'[{key!r}]' if key else ''}"
                check_box_tensor(fields[key], box, (B, n), label, env.device, spec.agents)
        check_tensor(gs.reward, (B, n), None, f"{where} reward", env.device)
        require(gs.reward.is_floating_point(), f"{where} reward has dtype {gs.reward.dtype}, expected float")
        for name in ("terminated", "alive"):
            check_tensor(getattr(gs, name), (B, n), torch.bool, f"{where} {name}", env.device)
        check_tensor(gs.joined, (B, n), torch.bool, f"{where} joined", env.device)
        check_action_mask(spec, gs.action_mask, B, where, env.device)
        check_neighbours(spec, gs.neighbours, B, where, env.device)
    states = [("state", step.state)] + (
        [] if step.final_state is None else [("final_state", step.final_state)]
    )
    for name, state in states:
        check_box_tensor(state, env.state_space, (B,), f"{when} {name}", env.device)
    for name in ("truncated", "done"):
        check_tensor(getattr(step, name), (B,), torch.bool, f"{when} {name}", env.device)
    for name, value in step.info.items():
        check_tensor(value, (B,), None, f"{when} info[{name!r}]", env.device)


def check_tensor(
    t: object, shape: tuple, dtype: torch.dtype | None, where: str, device: torch.device
) -> None:
    require(isinstance(t, Tensor), f"{where}: expected a Tensor, got {type(t).__name__}")
    require(tuple(t.shape) == tuple(shape), f"{where} has shape {tuple(t.shape)}, expected {tuple(shape)}")
    require(dtype is None or t.dtype == dtype, f"{where} has dtype {t.dtype}, expected {dtype}")
    require(t.device == device, f"{where} is on {t.device}, the environment is on {device}")


def check_box_tensor(
    t: object,
    box: gym.spaces.Box,
    batch: tuple[int, ...],
    where: str,
    device: torch.device,
    agents: tuple[str, ...] = (),
) -> None:
    """`t` is `[*batch, *box.shape]` of the box's dtype, on `device`, and inside the box (no NaN)."""
    check_tensor(t, (*batch, *box.shape), torch_dtype(box.dtype), where, device)
    low = torch.as_tensor(box.low, dtype=torch.float64, device=device)
    high = torch.as_tensor(box.high, dtype=torch.float64, device=device)
    values = t.double()
    bad = ((values < low) | (values > high) | values.isnan()).reshape(*batch, -1).any(-1)
    if bad.any():
        index = tuple(int(i) for i in bad.nonzero()[0])
        who = f" of agent {agents[index[1]]!r} in copy {index[0]}" if agents else f" of copy {index[0]}"
        raise AssertionError(
            f"{where}{who} is outside its space {box}: values {t[index].flatten()[:8].tolist()}"
        )


def check_action_mask(spec: GroupSpec, mask: Tensor | None, B: int, where: str, device: torch.device) -> None:
    width = spec.action_mask_size
    if width is None:
        require(mask is None, f"{where}: a Box action space has no action mask, got one")
    elif mask is not None:
        check_tensor(mask, (B, spec.n, width), torch.bool, f"{where} action_mask", device)


def check_neighbours(
    spec: GroupSpec, neighbours: Neighbours | None, B: int, where: str, device: torch.device
) -> None:
    k = spec.neighbours
    if not k:
        require(neighbours is None, f"{where}: the group publishes no neighbours (k = 0) but got some")
        return
    require(neighbours is not None, f"{where}: the group publishes {k} neighbour slots but step has none")
    check_tensor(neighbours.index, (B, spec.n, k), torch.long, f"{where} neighbours.index", device)
    check_tensor(neighbours.mask, (B, spec.n, k), torch.bool, f"{where} neighbours.mask", device)
    outside = (neighbours.index < 0) | (neighbours.index >= spec.n)
    require_none(outside, f"{where} neighbours.index has indices outside [0, {spec.n})")


# ====================================================================== seeding
@conformance_check("seeding")
def check_seeding(subject: Subject) -> None:
    """The same seed gives the same trajectory under the same actions (on a fresh instance and on a used
    one re-seeded through `reset(seed=...)`); a different seed gives a different one, unless the environment
    declares `random_dynamics = False`."""
    seed = subject.seed
    env = subject.make(seed=seed)
    reference = record_trajectory(env, seed, subject.steps)
    same_trajectory(reference, record_trajectory(env, seed, subject.steps), "the same instance re-seeded")
    same_trajectory(
        reference, record_trajectory(subject.make(seed=seed), seed, subject.steps), "a fresh instance"
    )
    if not type(env).random_dynamics:  # deterministic rules: two seeds may well give one trajectory
        return
    other = record_trajectory(subject.make(seed=seed + 1), seed + 1, subject.steps)

    def observations(trajectory: list) -> list[Tensor]:  # the fields every step has, whatever ended
        return [t for step in trajectory for _, kind, t in step if kind == OBSERVATION]

    differs = any(
        not torch.equal(a, b) for a, b in zip(observations(reference), observations(other), strict=True)
    )
    require(
        differs,
        f"seeds {seed} and {seed + 1} gave identical observations for {subject.steps} steps: "
        "does the environment draw its randomness from self.generator?",
    )


def record_trajectory(env: BatchedEnv, seed: int, steps: int) -> list[list[tuple[str, str, Tensor]]]:
    """Every field of `reset(seed)` and of `steps` steps, actions drawn from a generator of fixed seed."""
    actions = torch.Generator(device=env.device)
    actions.manual_seed(1234)
    step = env.reset(seed=seed)
    out = [[(label, kind, t.clone()) for label, kind, t in step_fields(env, step)]]
    for _ in range(steps):
        step = env.step(env.sample_actions(actions))
        out.append([(label, kind, t.clone()) for label, kind, t in step_fields(env, step)])
    return out


def same_trajectory(reference: list, other: list, what: str) -> None:
    for t, (step_a, step_b) in enumerate(zip(reference, other, strict=True)):
        labels_a, labels_b = [f[0] for f in step_a], [f[0] for f in step_b]
        require(
            labels_a == labels_b, f"step {t} of {what} has fields {labels_b}, the first run had {labels_a}"
        )
        for (label, _, a), (_, _, b) in zip(step_a, step_b, strict=True):
            require(torch.equal(a, b), f"same seed, same actions, but {label} differs at step {t} on {what}")


# ====================================================================== compiled steps
# torch.compile backend of the check: "eager" traces every step with TorchDynamo (graph breaks, guards, the
# replay of the step's side effects: everything compiling can get wrong) and runs the captured graphs as they
# are, so that the check costs seconds; tests/marl/test_compile.py runs inductor's generated code as well
COMPILE_BACKEND = "eager"
# most steps the compiled check takes to reach the first time limit (and so a masked auto-reset)
UNTIL_A_TIME_LIMIT = 100


@conformance_check("compiled")
def check_compiled(subject: Subject) -> None:
    """A compiled copy (`env.compile()`, see docs/adding_an_environment.md) gives the same trajectory as an
    eager one, field by field, for a fixed seed and action sequence, through at least one auto-reset when the
    environment has a time limit within `UNTIL_A_TIME_LIMIT` steps."""
    eager = subject.make()
    if type(eager).external_copies:
        raise CheckSkipped("an external, unbatched environment steps on the host: nothing to compile")
    steps = subject.steps
    if eager.max_steps is not None:
        steps = max(steps, min(eager.max_steps + 1, UNTIL_A_TIME_LIMIT))
    reference = record_trajectory(eager, subject.seed, steps)
    compiled = subject.make().compile(backend=COMPILE_BACKEND)
    same_trajectory(reference, record_trajectory(compiled, subject.seed, steps), "a compiled copy")


# ====================================================================== masked auto-reset
@conformance_check("auto_reset")
def check_auto_reset(subject: Subject) -> None:
    """Copies whose episode ended are reset inside `step`, the others are untouched; `final_obs` keeps the
    ended episode's last observation; terminated and truncated stay apart; `alive` follows terminations and
    `joined`. Runs `steps` steps, longer if no episode has ended yet (up to `max_steps` + 1, or
    `UNTIL_AN_EPISODE_ENDS` steps for an environment without `max_steps`)."""
    env = subject.make()
    step = env.reset(seed=subject.seed)
    horizon = max(subject.steps, UNTIL_AN_EPISODE_ENDS if env.max_steps is None else env.max_steps + 1)
    ended = 0
    for t in range(1, horizon + 1):
        alive_before = {g: step[g].alive.clone() for g in env.group_specs}
        step = env.step(env.sample_actions())
        check_transition(env, alive_before, step, f"step {t}")
        ended += int(step.done.sum())
        if ended and t >= subject.steps:
            break
    require(
        ended > 0,
        f"no episode ended in {horizon} steps of {env.num_envs} copies: "
        "pass a larger steps= or make_kwargs that end episodes sooner",
    )
    check_reset_hook_isolation(env)


def check_transition(env: BatchedEnv, alive_before: dict[str, Tensor], step: Step, when: str) -> None:
    done, truncated = step.done, step.truncated
    survivors_any = torch.zeros_like(done)
    for g in env.group_specs:
        gs, before, where = step[g], alive_before[g], f"{when}, group {g!r}"
        joined = gs.joined
        require_none(gs.terminated & ~before, f"{where}: an agent that was not alive terminated")
        require_none((gs.reward != 0) & ~before, f"{where}: an agent that was not alive got a reward")
        require(
            not (joined & done[:, None]).any(), f"{where}: joined must be False in copies reset at this step"
        )
        survivors = before & ~gs.terminated
        require(
            not (joined & survivors).any(), f"{where}: joined is True for an agent that was already alive"
        )
        expected_alive = survivors | joined
        wrong = (gs.alive != expected_alive) & ~done[:, None]
        require_none(
            wrong,
            f"{where}: alive is not (alive before and not terminated) or joined, in a copy that did not end",
        )
        survivors_any |= expected_alive.any(1)
    require(not (truncated & ~done).any(), f"{when}: a truncated copy must be done")
    all_dead = ~survivors_any
    require_none(
        all_dead & truncated, f"{when}: a copy where no agent is alive is truncated (it ended by termination)"
    )
    wrong_done = done != (all_dead | truncated)
    require_none(wrong_done, f"{when}: done must be (no agent alive) or truncated")
    require(
        step.final_obs is not None and step.final_state is not None, f"{when}: final_obs or final_state unset"
    )
    fields = {label: t for label, _, t in step_fields(env, step)}
    for label, final in fields.items():
        current = label.replace("final_state", "state").replace(".final_obs", ".obs")
        if current != label:
            differs = (final != fields[current]).reshape(final.shape[0], -1).any(1) & ~done
            require_none(differs, f"{when}: {label} must repeat {current} where the episode did not end")
    if done.any():
        for name in ("episode_return", "episode_length"):
            require(name in step.info, f"{when}: an episode ended but info has no {name!r}")
        require(bool((env.elapsed[done] == 0).all()), f"{when}: copies that ended must start a new episode")


def check_reset_hook_isolation(env: BatchedEnv) -> None:
    """`_reset(mask)` re-initialises the copies in `mask` only: every other copy's observation, state,
    action mask and alive flags stay exactly as they were."""
    B = env.num_envs
    mask = torch.arange(B, device=env.device) % 2 == 0
    before = snapshot(env)
    env._reset(mask)
    after = snapshot(env)
    for label, old in before.items():
        new = after[label]
        changed = (old != new).reshape(B, -1).any(1) & ~mask
        require_none(changed, f"_reset(mask) changed {label} of a copy outside the mask")


def snapshot(env: BatchedEnv) -> dict[str, Tensor]:
    out = {}
    observations, out["state"] = env._observe_with_state()
    for g, spec in env.group_specs.items():
        for key, t in observation_fields(observations[g], spec.observation_space, f"group {g!r} obs").items():
            out[f"{g}.obs{f'[{key}]' if key else ''}"] = t
        out[f"{g}.alive"] = env.alive[g]
    for g, mask in (env._action_mask() or {}).items():
        out[f"{g}.action_mask"] = mask
    return {label: t.clone() for label, t in out.items()}


# ====================================================================== no Python loop over copies
@conformance_check("batched_ops")
def check_batched_ops(subject: Subject) -> None:
    """No Python loop over copies: no line of Python runs more often in reset, sampling and 3 steps of
    `num_envs + EXTRA_COPIES` copies than of `num_envs` copies by as much as the number of extra copies.

    A loop over copies runs its body once per copy; loops whose length depends on the data (e.g. until a
    flood fill converges) may grow with the batch, but far more slowly."""
    small, large = subject.num_envs, subject.num_envs + EXTRA_COPIES
    counts = []
    for B in (small, large):
        env = subject.make(num_envs=B)
        if env.external_copies:
            raise CheckSkipped("wraps external environments, one per copy (a Python loop by design)")
        actions = torch.Generator(device=env.device)
        actions.manual_seed(subject.seed)

        def run(env: BatchedEnv = env, actions: torch.Generator = actions) -> None:
            env.reset(seed=subject.seed)
            for _ in range(3):
                env.step(env.sample_actions(actions))

        counts.append(python_lines(run))
    line, growth = max(((line, counts[1][line] - counts[0][line]) for line in counts[1]), key=lambda x: x[1])
    require(
        growth < large - small,
        f"{line} ran {counts[0][line]} times in reset and 3 steps of {small} copies and {counts[1][line]} "
        f"times with {large} copies: a Python loop over copies?",
    )


def python_lines(fn: Callable[[], None]) -> Counter[str]:
    """How often each line of Python (`"file:line (function)"`, any module) runs inside `fn()`."""
    count: Counter[str] = Counter()

    def tracer(frame, event, arg):  # noqa: ANN001, ANN202 (the sys.settrace protocol)
        if event == "line":
            code = frame.f_code
            count[f"{code.co_filename}:{frame.f_lineno} ({code.co_name})"] += 1
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(previous)
    return count


# ====================================================================== actions
@conformance_check("random_actions")
def check_random_actions(subject: Subject) -> None:
    """Every alive agent has a legal action under its mask (for MultiDiscrete, in every component), and
    `step`, validating, accepts what `sample_actions()` draws (inside the space, legal under the masks)."""
    env = subject.make()
    env.validate_actions = True
    step = env.reset(seed=subject.seed)
    for t in range(subject.steps):
        for g, spec in env.group_specs.items():
            gs = step[g]
            if gs.action_mask is not None:
                stuck = ~has_legal_action(spec.action_space, gs.action_mask) & gs.alive
                require_none(
                    stuck, f"step {t + 1}, group {g!r}: an alive agent has no legal action under its mask"
                )
        try:
            step = env.step(env.sample_actions())
        except (ValueError, TypeError, KeyError) as err:
            raise AssertionError(
                f"step {t + 1}: step rejected the actions sample_actions() drew: {err}"
            ) from err


def has_legal_action(space: gym.spaces.Space, mask: Tensor) -> Tensor:
    """`[B, n]` True where some action (for MultiDiscrete: some value of every component) is legal."""
    if isinstance(space, gym.spaces.MultiDiscrete):
        parts = torch.split(mask, [int(k) for k in space.nvec], dim=-1)
        return torch.stack([p.any(-1) for p in parts], -1).all(-1)
    return mask.any(-1)


@conformance_check("bad_actions")
def check_bad_actions(subject: Subject) -> None:
    """A missing or unknown group, a wrong shape or dtype, an action outside the space and one illegal under
    the mask are rejected, each with the matching exception naming the group or agent, before anything
    changes; a valid step still works afterwards."""
    env = subject.make()
    if not env.validate_actions:
        raise CheckSkipped("the environment turns action validation off")
    step = env.reset(seed=subject.seed)
    valid = env.sample_actions()
    for what, actions, error, named in bad_action_cases(env, step, valid):
        elapsed = env.elapsed.clone()
        try:
            env.step(actions)
        except error as err:
            require(named in str(err), f"{what}: the error does not name {named!r}: {err}")
        except Exception as err:
            raise AssertionError(
                f"{what}: expected {error.__name__}, got {type(err).__name__}: {err}"
            ) from err
        else:
            raise AssertionError(f"{what}: step accepted it")
        require(torch.equal(env.elapsed, elapsed), f"{what}: the rejected step changed the environment")
    env.step(valid)


def bad_action_cases(env: BatchedEnv, step: Step, valid: dict[str, Tensor]):
    """(description, actions, expected exception, text the message must contain) for every group."""
    first = next(iter(env.group_specs))

    def changed(g: str, value: Tensor) -> dict[str, Tensor]:
        return {**valid, g: value}

    yield "a missing group", {k: v for k, v in valid.items() if k != first}, KeyError, first
    yield "an unknown group", {**valid, "no_such_group": valid[first]}, KeyError, "no_such_group"
    for g, spec in env.group_specs.items():
        a, space, agent = valid[g], spec.action_space, spec.agents[0]
        yield f"group {g!r} with one copy too many", changed(g, torch.cat([a, a[:1]])), ValueError, g
        wrong_dtype = a.long() if isinstance(space, gym.spaces.Box) else a.float()
        yield f"group {g!r} with dtype {wrong_dtype.dtype}", changed(g, wrong_dtype), TypeError, g
        for what, value in outside_values(space, a):
            yield f"group {g!r}: {what} for agent {agent!r}", changed(g, value), ValueError, agent
        mask = step[g].action_mask
        illegal = None if mask is None else ~mask & step[g].alive[..., None]
        if illegal is not None and illegal.any():
            b, i, k = (int(x) for x in illegal.nonzero()[0])
            bad = a.clone()
            if isinstance(space, gym.spaces.Discrete):
                bad[b, i] = k + int(space.start)
            else:  # MultiDiscrete: flat mask entry k is value k - offset of component c
                offsets = np.cumsum(space.nvec) - space.nvec
                c = int(np.searchsorted(offsets, k, side="right")) - 1
                bad[b, i, c] = k - int(offsets[c])
            yield (
                f"group {g!r}: an action illegal under the mask",
                changed(g, bad),
                ValueError,
                spec.agents[i],
            )


def outside_values(space: gym.spaces.Space, a: Tensor):
    """Copies of `a` with copy 0's first agent's action outside `space`."""
    bad = a.clone()
    if isinstance(space, gym.spaces.Discrete):
        bad[0, 0] = int(space.start) + int(space.n)
        yield f"action {int(space.start) + int(space.n)} outside {space}", bad
    elif isinstance(space, gym.spaces.MultiDiscrete):
        bad[0, 0, 0] = int(space.nvec[0])
        yield f"component 0 = {int(space.nvec[0])} outside {space}", bad
    else:
        flat_high = np.asarray(space.high, dtype=np.float64).reshape(-1)
        finite = np.flatnonzero(np.isfinite(flat_high))
        if finite.size:
            bad.reshape(*a.shape[:2], -1)[0, 0, finite[0]] = float(flat_high[finite[0]]) + 1.0
            yield "an action above the high bound", bad
        nan = a.clone()
        nan.reshape(*a.shape[:2], -1)[0, 0, 0] = float("nan")
        yield "a NaN action", nan


# ====================================================================== rendering
@conformance_check("render")
def check_render(subject: Subject) -> None:
    """`render(index)` returns `uint8 [H, W, 3]` for the first and the last copy, after reset and a step."""
    env = subject.make()
    if not has_renderer(env):
        raise CheckSkipped("the environment has no renderer")
    env.reset(seed=subject.seed)
    for when in ("reset", "a step"):
        if when == "a step":
            env.step(env.sample_actions())
        for index in (0, env.num_envs - 1):
            frame = env.render(index)
            ok = isinstance(frame, np.ndarray) and frame.dtype == np.uint8 and frame.ndim == 3
            got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame).__name__
            require(
                ok and frame.shape[2] == 3 and min(frame.shape) > 0,
                f"render({index}) after {when}: {got}, expected uint8 [H, W, 3]",
            )
    env.close()


def has_renderer(env: BatchedEnv) -> bool:
    return type(env)._render is not BatchedEnv._render
