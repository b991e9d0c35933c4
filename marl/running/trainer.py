"""Building a run's environment and algorithm from its config (`build`, shared by `marl.Experiment`), and
the jobs behind `marl eval` and `marl render`, all on one device. Training is `marl.Experiment`
(marl/running/experiment.py)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from marl.core import registry
from marl.core.env import BatchedEnv
from marl.learning.algorithm import Algorithm, evaluate
from marl.running.config import algo_config, check_device, check_positive, env_kwargs, model_arguments
from marl.running.io import atomic_write_json
from marl.running.rundir import RunDirectory, load_checkpoint_file, resolve_checkpoint

GRID_BORDER = 4  # grey pixels between the copies of a video grid


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build(cfg: DictConfig, num_envs: int, seed: int) -> tuple[BatchedEnv, Algorithm, str, str]:
    """The environment and the algorithm a config describes (torch seeded first)."""
    check_device(cfg.device)
    if cfg.torch_threads < 0:
        raise ValueError(f"torch_threads must be >= 0 (0: torch's default), got {cfg.torch_threads}")
    if cfg.torch_threads:
        torch.set_num_threads(cfg.torch_threads)
    env_id, kwargs = env_kwargs(cfg)
    algo_name, algo_cfg = algo_config(cfg)
    seed_everything(seed)
    env = registry.make(env_id, num_envs=num_envs, device=cfg.device, seed=seed, **kwargs)
    model = model_arguments(cfg, algo_name)
    algo = registry.algo_entry(algo_name).factory(env, algo_cfg, torch.device(cfg.device), **model)
    return env, algo, env_id, algo_name


def evaluate_run(cfg: DictConfig) -> dict[str, Any]:
    """`marl eval`: deterministic and stochastic episodes of a checkpoint's policy (or an untrained one)."""
    check_positive(cfg, "eval_episodes")
    env, algo, env_id, algo_name = checkpoint_policy(cfg, min(cfg.eval_episodes, cfg.num_envs))
    report: dict[str, Any] = {"env": env_id, "algo": algo_name, "checkpoint": cfg.checkpoint, "episodes": {}}
    for mode, deterministic in (("deterministic", True), ("stochastic", False)):
        results = evaluate(algo, env, cfg.eval_episodes, deterministic=deterministic, seed=cfg.seed)
        report["episodes"][mode] = results
        report[mode] = {k: {"mean": float(np.mean(v)), "std": float(np.std(v))} for k, v in results.items()}
    run = RunDirectory(cfg.run_dir)
    atomic_write_json(run.eval_json, report)
    print(f"{algo_name} on {env_id}: {cfg.eval_episodes} episodes per mode -> {run.eval_json}")
    for mode in ("deterministic", "stochastic"):
        stats = ", ".join(f"{k} {v['mean']:.4g} ± {v['std']:.3g}" for k, v in report[mode].items())
        print(f"  {mode}: {stats}")
    return report


@torch.no_grad()
def render_run(cfg: DictConfig) -> Path:
    """`marl render`: a GIF or MP4 of a checkpoint's policy (random if none), one copy or a grid of copies."""
    video = cfg.video
    check_positive(video, "frames", "fps", "copies")
    if video.format not in ("gif", "mp4"):
        raise ValueError(f"video.format must be 'gif' or 'mp4', got {video.format!r}")
    env, algo, env_id, algo_name = checkpoint_policy(cfg, video.copies)
    step = env.reset(seed=cfg.seed)
    policy_state = algo.initial_policy_state(env.num_envs)
    draw = (
        (lambda: env.render(0))
        if video.copies == 1
        else (lambda: env.render_grid(list(range(video.copies)), border=GRID_BORDER))
    )
    frames = [draw()]
    for _ in range(video.frames):
        actions, policy_state = algo.act(step, policy_state, deterministic=True)
        step = env.step(actions)
        frames.append(draw())
    out = Path(video.path) if video.path else RunDirectory(cfg.run_dir).videos / f"rollout.{video.format}"
    write_video(frames, out, video.fps)
    print(f"wrote {len(frames)} frames of {algo_name} on {env_id} to {out}")
    return out


def write_video(frames: list[np.ndarray], out: Path, fps: int) -> Path:
    """`frames` as a GIF or MP4 (by `out`'s suffix), written to a temporary file and renamed over `out`."""
    import imageio.v3 as iio

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    if out.suffix == ".gif":
        iio.imwrite(tmp, np.stack(frames), duration=1000 / fps, loop=0)
    else:
        iio.imwrite(tmp, np.stack(frames), fps=fps, codec="libx264", macro_block_size=1)
    tmp.replace(out)
    return out


def command_line_env_keys() -> list[str]:
    """This command's `env.KEY=VALUE` overrides (Hydra's record of them), which a checkpoint's environment
    takes on top of its run's (`marl eval checkpoint=RUN env.n_agents=32`: the trained policy on 32 agents).
    Another environment (`env=...`) is refused: a checkpoint's policy belongs to the task it was trained on."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    overrides = [o.removeprefix("+").removeprefix("++") for o in HydraConfig.get().overrides.task]
    if any(o.split("=", 1)[0] == "env" for o in overrides):
        raise ValueError(
            "a checkpoint's policy runs on the environment it was trained on: change that environment's keys "
            "with env.KEY=VALUE (e.g. env.n_agents=32), not with env=..."
        )
    return [o for o in overrides if o.startswith("env.")]


def checkpoint_policy(cfg: DictConfig, num_envs: int) -> tuple[BatchedEnv, Algorithm, str, str]:
    """`num_envs` copies of the environment and the algorithm with the checkpoint's weights, rebuilt from
    the checkpoint's run config (device and seed from `cfg`, and the command line's `env.KEY=VALUE`
    overrides); without a checkpoint, `cfg`'s own, untrained."""
    if not cfg.checkpoint:
        return build(cfg, num_envs, cfg.seed)
    source, path = resolve_checkpoint(cfg.checkpoint)
    run_cfg = OmegaConf.merge(
        OmegaConf.create(source.read_config()),
        {"device": cfg.device, "seed": cfg.seed},
        OmegaConf.from_dotlist(command_line_env_keys()),
    )
    check_device(cfg.device)
    state = load_checkpoint_file(path, map_location=cfg.device)["algorithm"]
    env, algo, env_id, algo_name = build(run_cfg, num_envs, cfg.seed)
    algo.load_state_dict(state)
    return env, algo, env_id, algo_name
