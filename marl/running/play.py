"""`marl play`: people at the keyboard control agents of a live episode beside a partner (a checkpoint's
policy, a registered algorithm such as a scripted planner, or a second person), at a fixed tick rate.

An environment is playable when its agents' actions are Discrete and it renders: it names its keys in
`play_keys`, one `{pygame key name: action index}` map per person at the keyboard (the first person's map,
then the second's), and the action of a tick without a key in `play_idle_action`. At each tick a person's
action is the last of their keys pressed during that tick (the idle action if none). Scripted sessions
(`play.script`) post the same key events into pygame's queue, so they run the real input path; with
`SDL_VIDEODRIVER=dummy` no display is needed.

Each episode is saved in the run directory (the checkpoint's unless `run_dir` is given) as
`play/episode_<k>.json` (per step the keys, joint actions, rewards; who controlled which agent) and
`videos/play_<k>.<format>` (the window's frames), k counting on from the episodes already there.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from marl.core import registry
from marl.core.env import BatchedEnv
from marl.learning.algorithm import Algorithm
from marl.running.config import algo_config, check_positive, env_kwargs, model_arguments
from marl.running.io import atomic_write_json
from marl.running.rundir import RunDirectory
from marl.running.trainer import checkpoint_policy, seed_everything, write_video

LINE = 18  # pixels per line of the text bar above the environment's frame
MIN_WIDTH = 360  # a narrow frame is centred in a window wide enough for the bar's text
NO_KEY = "none"  # a scripted tick without a key press


@dataclass
class Seat:
    """One person at the keyboard: the agent they control and their keys."""

    agent: str
    keys: dict[int, int]  # pygame key code -> action index
    key_names: str  # for the window and the trajectory, e.g. "up/down/left/right/space"


@torch.no_grad()
def play_run(cfg: DictConfig) -> list[Path]:
    """`marl play`: play `play.episodes` episodes; return the trajectory files written."""
    options = cfg.play
    check_positive(options, "fps", "episodes")
    if cfg.video.format not in ("gif", "mp4"):
        raise ValueError(f"video.format must be 'gif' or 'mp4', got {cfg.video.format!r}")
    env, partner, env_id, partner_name = _partner(cfg)
    window = Window(env)  # first: pygame's key names need its display
    written = []
    try:
        seats = _seats(env, env_id, options)
        scripted = _scripted_keys(options.script) if options.script is not None else None
        session = Session(env, partner, partner_name, seats, window, scripted, options.fps, cfg.seed)
        run = RunDirectory(cfg.run_dir)
        played = run.path / "play"
        first = next(k for k in itertools.count() if not (played / f"episode_{k}.json").exists())
        for episode in range(first, first + options.episodes):
            record, frames = session.episode()
            record = {"env": env_id, "seed": cfg.seed, "episode": episode, "fps": options.fps, **record}
            path = played / f"episode_{episode}.json"
            atomic_write_json(path, record)
            video = write_video(frames, run.videos / f"play_{episode}.{cfg.video.format}", options.fps)
            written.append(path)
            print(
                f"episode {episode}: {record['length']} steps, return {sum(record['returns'].values()):.4g} "
                f"({record['ended']}) -> {path}, {video}"
            )
            if record["ended"] != "episode over":
                break
    finally:
        window.close()
    return written


class Session:
    """The people's keys and the partner's actions, tick by tick, on copy 0 of `env` (reset once; later
    episodes continue from the copy's own reset)."""

    def __init__(
        self,
        env: BatchedEnv,
        partner: Algorithm,
        partner_name: str,
        seats: list[Seat],
        window: Window,
        scripted: list[list[int]] | None,
        fps: int,
        seed: int,
    ) -> None:
        self.env, self.partner, self.seats = env, partner, seats
        self.window, self.scripted, self.fps = window, scripted, fps
        self.controllers = {agent: partner_name for agent in env.possible_agents}
        self.controllers.update({seat.agent: f"human ({seat.key_names})" for seat in seats})
        self.bar = [f"person {k + 1}: {seat.agent} ({seat.key_names})" for k, seat in enumerate(seats)]
        self.bar.append(f"partner: {partner_name}")
        self.step = env.reset(seed=seed)
        self.policy_state = partner.initial_policy_state(env.num_envs)
        self.generator = torch.Generator(device=env.device)
        self.generator.manual_seed(seed)

    def episode(self) -> tuple[dict[str, Any], list[np.ndarray]]:
        """Play until the episode ends, the window closes or the script runs out; return the record
        (controllers, steps, length, returns, why it ended) and the window's frames."""
        env = self.env
        steps: list[dict[str, Any]] = []
        totals = dict.fromkeys(env.possible_agents, 0.0)
        frames = [self._draw(totals)]
        ended = "episode over"
        while True:
            pressed = self.window.read_keys(self.scripted.pop(0) if self.scripted else None)
            if pressed is None:
                ended = "window closed"
                break
            actions, self.policy_state = self.partner.act(
                self.step, self.policy_state, deterministic=True, generator=self.generator
            )
            keys_used = _take_seats(env, self.seats, pressed, actions)
            self.step = env.step(actions)
            rewards = _per_agent(env, {g: s.reward for g, s in self.step.groups.items()})
            for agent, reward in rewards.items():
                totals[agent] += reward
            steps.append({"keys": keys_used, "actions": _per_agent(env, actions), "rewards": rewards})
            frames.append(self._draw(totals))
            self.window.wait(self.fps)
            if bool(self.step.done[0]):
                break
            if self.scripted is not None and not self.scripted:
                ended = "scripted keys ran out"
                break
        summary = {"controllers": self.controllers, "length": len(steps), "returns": totals, "ended": ended}
        return {**summary, "steps": steps}, frames

    def _draw(self, totals: dict[str, float]) -> np.ndarray:
        return self.window.draw([*self.bar, f"return {sum(totals.values()):.4g}"])


class Window:
    """The pygame window: a text bar (who plays, the partner, the return) above the environment's frame."""

    def __init__(self, env: BatchedEnv) -> None:
        import pygame

        self.pygame, self.env = pygame, env
        pygame.display.init()
        pygame.font.init()
        self.font = pygame.font.Font(None, LINE + 2)
        self.clock = pygame.time.Clock()
        self.screen: pygame.Surface | None = None  # opened at the first frame, sized for its text

    def _open(self, frame: np.ndarray, text_lines: int) -> None:
        height, width, _ = frame.shape
        self.frame_at = (max(0, MIN_WIDTH - width) // 2, text_lines * LINE + 4)
        self.screen = self.pygame.display.set_mode((max(width, MIN_WIDTH), height + self.frame_at[1]))
        self.pygame.display.set_caption("marl play")

    def draw(self, lines: list[str]) -> np.ndarray:
        """Show the current frame below `lines` of text and return what the window shows, `uint8 [H, W, 3]`."""
        pygame = self.pygame
        frame = self.env.render(0)
        if self.screen is None:
            self._open(frame, len(lines))
        self.screen.fill((30, 30, 35))
        for k, text in enumerate(lines):
            self.screen.blit(self.font.render(text, True, (240, 240, 240)), (6, 4 + k * LINE))
        self.screen.blit(pygame.surfarray.make_surface(frame.transpose(1, 0, 2)), self.frame_at)
        pygame.display.flip()
        return pygame.surfarray.array3d(self.screen).transpose(1, 0, 2).copy()

    def read_keys(self, scripted: list[int] | None) -> list[int] | None:
        """The key codes pressed since the last tick, in order (after posting the scripted ones); None when
        the window is closed or Escape is pressed."""
        pygame = self.pygame
        for code in scripted or []:
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=code, mod=0, unicode="", scancode=0))
        pressed = []
        for event in pygame.event.get():
            if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key == pygame.K_ESCAPE):
                return None
            if event.type == pygame.KEYDOWN:
                pressed.append(event.key)
        return pressed

    def wait(self, fps: int) -> None:
        self.clock.tick(fps)

    def close(self) -> None:
        self.pygame.display.quit()


def _partner(cfg: DictConfig) -> tuple[BatchedEnv, Algorithm, str, str]:
    """One copy of the environment and the policy of the agents no person controls, with its name for the
    window: a checkpoint's (`play.partner=checkpoint`, the checkpoint's environment), a registered algorithm
    with its default config (e.g. a scripted planner), or, for `human`, a random policy the seats override."""
    choice = cfg.play.partner
    if choice == "checkpoint":
        if not cfg.checkpoint:
            raise ValueError(
                "play.partner=checkpoint needs checkpoint=RUN_DIR; or set play.partner to a registered "
                "algorithm (e.g. kitchen_greedy) or to human"
            )
        env, algo, env_id, algo_name = checkpoint_policy(cfg, 1)
        return env, algo, env_id, f"{algo_name} from {cfg.checkpoint}"
    if cfg.checkpoint:
        raise ValueError(f"checkpoint= is for play.partner=checkpoint; play.partner={choice} does not use it")
    name = "random" if choice == "human" else choice
    if name not in registry.list_algos():
        raise ValueError(
            f"play.partner must be checkpoint, human or a registered algorithm "
            f"({', '.join(registry.list_algos())}); got {choice!r}"
        )
    entry = registry.algo_entry(name)
    config = algo_config(cfg)[1] if cfg.algo.name == name else entry.config_class()
    env_id, kwargs = env_kwargs(cfg)
    seed_everything(cfg.seed)
    env = registry.make(env_id, num_envs=1, device=cfg.device, seed=cfg.seed, **kwargs)
    algo = entry.factory(env, config, torch.device(cfg.device), **model_arguments(cfg, name))
    return env, algo, env_id, choice


def _seats(env: BatchedEnv, env_id: str, options: DictConfig) -> list[Seat]:
    """The people at the keyboard: `play.agent` with the environment's first key map and, with
    `play.partner=human`, `play.second` with its second."""
    import pygame

    key_maps = getattr(env, "play_keys", None)
    if not key_maps or not hasattr(env, "play_idle_action"):
        raise ValueError(
            f"{env_id} cannot be played: its environment class {type(env).__name__} defines no `play_keys` "
            "(one {key name: action} map per person) and `play_idle_action`"
        )
    agents = list(env.possible_agents)
    chosen = [options.agent or agents[0]]
    if options.partner == "human":
        if len(key_maps) < 2:
            raise ValueError(f"{env_id} has keys for one person only; play.partner=human needs two")
        if len(agents) != 2:
            raise ValueError(
                f"play.partner=human seats two people but {env_id} has {len(agents)} agents; "
                "choose a checkpoint or an algorithm as the partner"
            )
        after_first = [a for a in agents if a != chosen[0]]
        chosen.append(options.second or after_first[0])
    elif options.second:
        raise ValueError("play.second names the second person's agent; it needs play.partner=human")
    seats = []
    for agent, key_map in zip(chosen, key_maps, strict=False):
        if agent not in agents:
            raise ValueError(f"no agent {agent!r} in {env_id}; its agents are {agents}")
        space = env.action_space(agent)
        if not hasattr(space, "n"):
            raise ValueError(f"agent {agent!r} of {env_id} has {space} actions; a person plays Discrete ones")
        for action in [*key_map.values(), env.play_idle_action]:
            if not 0 <= action < space.n:
                raise ValueError(f"{type(env).__name__}.play_keys: action {action} outside {agent}'s {space}")
        keys = {pygame.key.key_code(name): action for name, action in key_map.items()}
        seats.append(Seat(agent, keys, "/".join(key_map)))
    if len(seats) == 2 and seats[0].agent == seats[1].agent:
        raise ValueError(
            f"play.agent and play.second are both {seats[0].agent!r}; two people need two agents"
        )
    return seats


def _scripted_keys(ticks: list[str]) -> list[list[int]]:
    """`play.script`: per tick the key names pressed, joined by '+', or 'none'."""
    import pygame

    codes = []
    for tick, entry in enumerate(ticks):
        names = [] if entry == NO_KEY else entry.split("+")
        try:
            codes.append([pygame.key.key_code(name) for name in names])
        except ValueError:
            raise ValueError(
                f"play.script[{tick}] = {entry!r}: expected pygame key names joined by '+' "
                f"(e.g. 'up', 'space', 'up+w') or {NO_KEY!r}"
            ) from None
    if not codes:
        raise ValueError("play.script is empty; give one entry per tick or leave it unset for live play")
    return codes


def _take_seats(env: BatchedEnv, seats: list[Seat], pressed: list[int], actions: dict) -> dict[str, str]:
    """Overwrite the seated agents' actions (copy 0) with their last key of this tick; return the key name
    each person pressed ('' for none)."""
    import pygame

    used = {}
    for seat in seats:
        mine = [code for code in pressed if code in seat.keys]
        group, index = env.group_of(seat.agent), env.index_in_group(seat.agent)
        actions[group][0, index] = seat.keys[mine[-1]] if mine else env.play_idle_action
        used[seat.agent] = pygame.key.name(mine[-1]) if mine else ""
    return used


def _per_agent(env: BatchedEnv, values: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Copy 0's `{group: [B, n, ...]}` values as `{agent: value}` (numbers or lists)."""
    return {
        agent: values[group][0, i].tolist()
        for group, spec in env.group_specs.items()
        for i, agent in enumerate(spec.agents)
    }
