"""The jobs behind `marl train`, `marl eval` and `marl render`, all on one device."""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from marl.core import registry
from marl.core.env import BatchedEnv
from marl.learning.algorithm import Algorithm, evaluate
from marl.running.config import algo_config, env_kwargs, model_arguments
from marl.running.rundir import MetricsLog, RunDirectory, resolve_checkpoint

# keys that may change when a run is resumed; anything else must match the run's saved config
RESUMABLE_CHANGES = {
    "total_steps",
    "progress",
    "checkpoint",
    "video",
    "eval_every",
    "checkpoint_every",
    "torch_threads",
}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build(cfg: DictConfig, num_envs: int, seed: int) -> tuple[BatchedEnv, Algorithm, str, str]:
    """The environment and the algorithm a config describes (torch seeded first)."""
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


def train(cfg: DictConfig) -> Path:
    """Train until `total_steps` environment steps; resume from the run directory's checkpoint if it has one."""
    _check_positive(cfg, "num_envs", "total_steps", "eval_episodes")
    run = RunDirectory(cfg.run_dir)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    checkpoint = run.load_checkpoint(map_location=cfg.device)
    if checkpoint is not None:
        _check_same_run(run.read_config(), resolved)
    run.write_config(resolved)

    env, algo, env_id, algo_name = build(cfg, cfg.num_envs, cfg.seed)
    eval_env = registry.make(
        env_id,
        num_envs=min(cfg.eval_episodes, cfg.num_envs),
        device=cfg.device,
        seed=cfg.seed + 1,
        **env_kwargs(cfg)[1],
    )
    steps, elapsed_before = 0, 0.0
    if checkpoint is not None:
        algo.load_state_dict(checkpoint["algorithm"])
        steps, elapsed_before = checkpoint["steps"], checkpoint["elapsed"]
        _set_rng_state(checkpoint["rng"])
    log = MetricsLog(run, env_id, algo_name, cfg.seed, resume_step=steps if checkpoint else None)
    eval_every = cfg.eval_every or max(1, cfg.total_steps // 10)
    checkpoint_every = cfg.checkpoint_every or eval_every
    next_eval = (steps // eval_every + 1) * eval_every if steps else 0
    next_checkpoint = (steps // checkpoint_every + 1) * checkpoint_every

    def save() -> None:
        run.save_checkpoint(
            {
                "algorithm": algo.state_dict(),
                "steps": steps,
                "elapsed": elapsed_before + time.perf_counter() - start,
                "rng": _rng_state(),
                "config": resolved,
            }
        )
        log.flush()

    def evaluation(final: bool) -> dict[str, list[float]]:
        results = evaluate(algo, eval_env, cfg.eval_episodes, deterministic=True, seed=cfg.seed + 1)
        log.log_evaluation(steps, results, elapsed_before + time.perf_counter() - start, final)
        return results

    start = time.perf_counter()
    bar = tqdm(
        total=cfg.total_steps,
        initial=min(steps, cfg.total_steps),
        disable=not cfg.progress,
        unit="step",
        unit_scale=True,
        dynamic_ncols=True,
        file=sys.stderr,
        desc=f"{algo_name} on {env_id}",
    )
    last_return = None
    while steps < cfg.total_steps:
        if steps >= next_eval:
            results = evaluation(final=False)
            next_eval += eval_every
            bar.set_postfix(eval_return=_mean(results.get("episode_return")), refresh=False)
        tic = time.perf_counter()
        iteration = algo.train_iteration()
        if iteration.env_steps <= 0:
            raise RuntimeError(f"{algo_name}.train_iteration() took {iteration.env_steps} environment steps")
        steps += iteration.env_steps
        sps = iteration.env_steps / max(time.perf_counter() - tic, 1e-9)
        episodes = algo.episodes.pop()
        values = {f"train/{k}": v for k, v in episodes.items()}
        values.update(iteration.metrics)
        values["time/steps_per_second"] = sps
        values["time/elapsed"] = elapsed_before + time.perf_counter() - start
        log.log(steps, values)
        last_return = episodes.get("episode_return", last_return)
        bar.update(min(steps, cfg.total_steps) - bar.n)
        bar.set_postfix(ret=_fmt(last_return), sps=f"{sps:,.0f}")
        if steps >= next_checkpoint:
            save()
            next_checkpoint = (steps // checkpoint_every + 1) * checkpoint_every
    bar.close()
    results = evaluation(final=True)
    save()
    log.close()
    print(
        f"trained {algo_name} on {env_id} for {steps:,} steps; final evaluation return "
        f"{_mean(results.get('episode_return'))} over {cfg.eval_episodes} episodes; run directory {run.path}"
    )
    return run.path


def evaluate_run(cfg: DictConfig) -> dict[str, Any]:
    """`marl eval`: deterministic and stochastic episodes of a checkpoint's policy (or an untrained one)."""
    _check_positive(cfg, "eval_episodes")
    run_cfg, state = cfg, None
    if cfg.checkpoint:
        source, path = resolve_checkpoint(cfg.checkpoint)
        run_cfg = OmegaConf.merge(OmegaConf.create(source.read_config()), _eval_overrides(cfg))
        state = torch.load(path, map_location=cfg.device, weights_only=False)["algorithm"]
    env, algo, env_id, algo_name = build(run_cfg, min(cfg.eval_episodes, cfg.num_envs), cfg.seed)
    if state is not None:
        algo.load_state_dict(state)
    report: dict[str, Any] = {"env": env_id, "algo": algo_name, "checkpoint": cfg.checkpoint, "episodes": {}}
    for mode, deterministic in (("deterministic", True), ("stochastic", False)):
        results = evaluate(algo, env, cfg.eval_episodes, deterministic=deterministic, seed=cfg.seed)
        report["episodes"][mode] = results
        report[mode] = {k: {"mean": float(np.mean(v)), "std": float(np.std(v))} for k, v in results.items()}
    run = RunDirectory(cfg.run_dir)
    from marl.running.io import atomic_write_json

    atomic_write_json(run.eval_json, report)
    print(f"{algo_name} on {env_id}: {cfg.eval_episodes} episodes per mode -> {run.eval_json}")
    for mode in ("deterministic", "stochastic"):
        stats = ", ".join(f"{k} {v['mean']:.4g} ± {v['std']:.3g}" for k, v in report[mode].items())
        print(f"  {mode}: {stats}")
    return report


@torch.no_grad()
def render_run(cfg: DictConfig) -> Path:
    """`marl render`: a GIF or MP4 of a checkpoint's policy (random if none), one copy or a grid of copies."""
    import imageio.v3 as iio

    video = cfg.video
    _check_positive(video, "frames", "fps", "copies")
    if video.format not in ("gif", "mp4"):
        raise ValueError(f"video.format must be 'gif' or 'mp4', got {video.format!r}")
    run_cfg, state = cfg, None
    if cfg.checkpoint:
        source, path = resolve_checkpoint(cfg.checkpoint)
        run_cfg = OmegaConf.merge(OmegaConf.create(source.read_config()), _eval_overrides(cfg))
        state = torch.load(path, map_location=cfg.device, weights_only=False)["algorithm"]
    env, algo, env_id, algo_name = build(run_cfg, video.copies, cfg.seed)
    if state is not None:
        algo.load_state_dict(state)
    step = env.reset(seed=cfg.seed)
    policy_state = algo.initial_policy_state(env.num_envs)
    draw = (
        (lambda: env.render(0)) if video.copies == 1 else (lambda: env.render_grid(list(range(video.copies))))
    )
    frames = [draw()]
    for _ in range(video.frames):
        actions, policy_state = algo.act(step, policy_state, deterministic=True)
        step = env.step(actions)
        frames.append(draw())
    out = Path(video.path) if video.path else RunDirectory(cfg.run_dir).videos / f"rollout.{video.format}"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    if video.format == "gif":
        iio.imwrite(tmp, np.stack(frames), duration=1000 / video.fps, loop=0)
    else:
        iio.imwrite(tmp, np.stack(frames), fps=video.fps, codec="libx264", macro_block_size=1)
    tmp.replace(out)
    print(f"wrote {len(frames)} frames of {algo_name} on {env_id} to {out}")
    return out


def _eval_overrides(cfg: DictConfig) -> DictConfig:
    """What `marl eval` / `marl render` take from the command line over a checkpoint's saved config."""
    return OmegaConf.create({"device": cfg.device, "seed": cfg.seed})


def _check_same_run(saved: dict[str, Any], now: dict[str, Any]) -> None:
    changed = sorted(
        k
        for k in set(saved) | set(now)
        if k not in RESUMABLE_CHANGES | {"run_dir"} and saved.get(k) != now.get(k)
    )
    if changed:
        detail = "; ".join(f"{k}: saved {saved.get(k)!r}, now {now.get(k)!r}" for k in changed)
        raise ValueError(
            f"the run directory holds a checkpoint of a different run ({detail}); resume with the same config "
            f"(only {', '.join(sorted(RESUMABLE_CHANGES))} may change) or pick a new run_dir"
        )


def _check_positive(node: Any, *keys: str) -> None:
    for key in keys:
        value = node[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value!r}")


def _rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def _mean(values: list[float] | None) -> str:
    return "n/a" if not values else f"{float(np.mean(values)):.4g}"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
