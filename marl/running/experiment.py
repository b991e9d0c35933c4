"""`marl.Experiment`: one training run, the loop behind `marl train`, the benchmark scripts and the examples.

An experiment owns the training environment, a separate evaluation environment, the algorithm, the run
directory (resolved config, metrics, checkpoints), the evaluations and the progress bar. Started again on a
run directory that holds a checkpoint, it resumes from there with the same step count.
"""

from __future__ import annotations

import dataclasses
import random
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import MISSING, DictConfig, OmegaConf
from tqdm import tqdm

from marl.core import registry
from marl.learning.algorithm import Iteration, evaluate
from marl.running.config import RunConfig, check_run_config, compose_run_config, env_kwargs, merge_values
from marl.running.rundir import MetricsLog, RunDirectory
from marl.running.trainer import build

# keys that may change when a run is resumed; anything else must match the run's saved config
RESUMABLE_CHANGES = {
    "total_steps",
    "progress",
    "checkpoint",
    "video",
    "eval_every",
    "checkpoint_every",
    "log_every",
    "torch_threads",
}


class Interrupted(KeyboardInterrupt):
    """Training stopped by SIGINT (Ctrl-C) or SIGTERM; the run directory holds a checkpoint at `step`."""

    def __init__(self, step: int) -> None:
        super().__init__(f"interrupted at step {step:,}; run the same command to resume")
        self.step = step

    def __str__(self) -> str:
        return str(self.args[0])


class Experiment:
    """One training run of an algorithm on an environment, described by a run config.

        marl.Experiment(env="mpe/simple_spread", algo="ippo", total_steps=200_000, seed=1).run()
        marl.Experiment(["env=mpe/simple_tag", "algo=ippo", "algo.lr=1e-3"]).run()  # Hydra overrides
        marl.Experiment({"algo": {"name": "ippo", "epochs": 10}}, seed=2)  # a dict, e.g. a run's config.yaml

    A dict, a list of Hydra override strings and keyword arguments are all overrides on the default config
    (configs/config.yaml: what a bare `marl train` runs); `env` and `algo` take a registered name or a dict
    with `id` / `name` and keys. A DictConfig is taken as the complete run config (what `marl train`
    composed). An unknown key or a value of the wrong type raises before anything is built.

    The environment and the algorithm are built at construction (`env`, `eval_env`, `algo`); `run()` trains
    until `total_steps`, writes the run directory and returns its path; `results` then holds the final
    evaluation, `evaluations` every evaluation and `metrics` every logged row.
    """

    def __init__(
        self, config: DictConfig | Mapping[str, Any] | Sequence[str] | None = None, /, **overrides: Any
    ) -> None:
        if isinstance(config, DictConfig):
            cfg = merge_values(config, overrides) if overrides else config
        elif isinstance(config, str):
            raise TypeError(f"pass Hydra overrides as a list of strings, e.g. [{config!r}]")
        elif isinstance(config, Sequence):
            cfg = compose_run_config(config, overrides)
        elif config is None or isinstance(config, Mapping):
            cfg = compose_run_config(values={**(config or {}), **overrides})
        else:
            raise TypeError(
                f"an experiment's config is a dict, a DictConfig or override strings, got {config!r}"
            )
        check_run_config(cfg)
        self.config = cfg
        self.run_dir = Path(cfg.run_dir)
        self.env, self.algo, self.env_id, self.algo_name = build(cfg, cfg.num_envs, cfg.seed)
        self.eval_env = registry.make(
            self.env_id,
            num_envs=min(cfg.eval_episodes, cfg.num_envs),
            device=cfg.device,
            seed=cfg.seed + 1,
            **env_kwargs(cfg)[1],
        )
        self.results: dict[str, list[float]] | None = None
        self._log: MetricsLog | None = None

    def evaluate(
        self, deterministic: bool | None = None, episodes: int | None = None
    ) -> dict[str, list[float]]:
        """`episodes` (default `eval_episodes`) episodes on the evaluation environment (seeded `seed + 1`),
        each episode's statistics by name; greedy or sampled as `eval_deterministic` says unless
        `deterministic` is given."""
        cfg = self.config
        mode = cfg.eval_deterministic if deterministic is None else deterministic
        count = cfg.eval_episodes if episodes is None else episodes
        return evaluate(self.algo, self.eval_env, count, deterministic=mode, seed=cfg.seed + 1)

    @property
    def metrics(self) -> list[dict[str, float]]:
        """The rows of metrics.csv: `step`, training episode statistics (`train/...`), losses, timings."""
        return self._written().rows

    @property
    def evaluations(self) -> list[dict[str, Any]]:
        """Every evaluation of the run, resumed parts included, as results.json holds them (marl-eval
        names): `{"step_count", "elapsed_time", "return": [per episode], ...}`."""
        return [v for k, v in self._written().evaluations.items() if k != "absolute_metrics"]

    def run(self) -> Path:
        """Train until `total_steps` environment steps (summed over copies) and return the run directory;
        resume from its checkpoint if it holds one of the same run (a finished run is left as it is).

        SIGINT (Ctrl-C) or SIGTERM ends the run after the current iteration with a checkpoint and raises
        `Interrupted`; a second signal abandons the iteration at once (the last checkpoint stays)."""
        cfg, algo = self.config, self.algo
        run = RunDirectory(self.run_dir)
        resolved = OmegaConf.to_container(cfg, resolve=True)
        checkpoint = run.load_checkpoint(map_location=cfg.device)
        if checkpoint is None:
            run.check_is_run()
        else:
            _check_same_run(run.read_config(), resolved)
        steps, elapsed_before = 0, 0.0
        if checkpoint is not None:
            algo.load_state_dict(checkpoint["algorithm"])
            steps, elapsed_before = checkpoint["steps"], checkpoint["elapsed"]
            _set_rng_state(checkpoint["rng"])
        log = self._log = MetricsLog(
            run,
            self.env_id,
            self.algo_name,
            cfg.seed,
            resume_step=steps if checkpoint else -1,
            task=cfg.task_name,
        )
        if checkpoint is not None and checkpoint.get("results") is not None and steps >= cfg.total_steps:
            self.results = checkpoint["results"]
            print(
                f"the run in {run.path} finished at step {steps:,} (total_steps {cfg.total_steps:,}); "
                "nothing to do: give a larger total_steps to train on"
            )
            return run.path
        run.write_config(resolved)
        eval_every = cfg.eval_every or max(1, cfg.total_steps // 10)
        checkpoint_every = cfg.checkpoint_every or eval_every
        next_eval = _next_multiple(steps, eval_every)
        next_checkpoint = _next_multiple(steps, checkpoint_every)
        next_row = _next_multiple(steps, cfg.log_every) if cfg.log_every else 0
        start = time.perf_counter()
        pending: list[tuple[Iteration, float]] = []  # iterations since the last row, with their seconds
        postfix: dict[str, str] = {}  # what the progress bar shows: last training return, evaluation, speed

        def elapsed() -> float:
            return elapsed_before + time.perf_counter() - start

        def write_row() -> None:
            """One row for the iterations since the last: their episodes, mean losses and speed."""
            if not pending:
                return
            values = {f"train/{k}": v for k, v in algo.episodes.pop().items()}
            values.update(_mean_metrics([iteration.metrics for iteration, _ in pending]))
            values["time/steps_per_second"] = sum(i.env_steps for i, _ in pending) / max(
                sum(seconds for _, seconds in pending), 1e-9
            )
            values["time/elapsed"] = elapsed()
            log.log(steps, values)
            pending.clear()
            if "train/episode_return" in values:
                postfix["ret"] = f"{values['train/episode_return']:.4g}"
            postfix["sps"] = f"{values['time/steps_per_second']:,.0f}"
            bar.set_postfix(postfix)

        def evaluation(final: bool) -> dict[str, list[float]]:
            """An evaluation at this step; the final one also gives the absolute metric (marl-eval), on
            `final_eval_episodes` episodes when that is set, and returns it."""
            results = self.evaluate()
            seconds = elapsed()  # the absolute-metric evaluation below is no part of the training time
            absolute = (
                self.evaluate(episodes=cfg.final_eval_episodes) if final and cfg.final_eval_episodes else None
            )
            log.log_evaluation(steps, results, seconds, final, absolute)
            postfix["eval"] = _mean(results.get("episode_return"))
            bar.set_postfix(postfix)
            if not cfg.progress:
                print(
                    f"step {steps:,}: evaluation return {postfix['eval']} over {cfg.eval_episodes} episodes",
                    flush=True,
                )
            return absolute or results

        def save(results: dict[str, list[float]] | None = None) -> None:
            """A checkpoint; `results` (the final evaluation) marks the run finished."""
            log.flush()  # the scalars up to this step reach disk before the checkpoint says they exist
            run.save_checkpoint(
                {
                    "algorithm": algo.state_dict(),
                    "steps": steps,
                    "elapsed": elapsed(),
                    "rng": _rng_state(),
                    "config": resolved,
                    "results": results,
                }
            )
            stop.saved_step = steps

        bar = tqdm(
            total=cfg.total_steps,
            initial=min(steps, cfg.total_steps),
            disable=not cfg.progress,
            unit="step",
            unit_scale=True,
            dynamic_ncols=True,
            file=sys.stderr,
            desc=f"{self.algo_name} on {self.env_id}",
        )
        stop = _StopOnSignal(saved_step=steps)
        with stop:
            if checkpoint is None:
                evaluation(final=False)  # the untrained policy
            while steps < cfg.total_steps and stop.signal is None:
                tic = time.perf_counter()
                iteration = algo.train_iteration()
                if iteration.env_steps <= 0:
                    raise RuntimeError(
                        f"{self.algo_name}.train_iteration() took {iteration.env_steps} environment steps"
                    )
                steps += iteration.env_steps
                pending.append((iteration, time.perf_counter() - tic))
                bar.update(min(steps, cfg.total_steps) - bar.n)
                if steps >= next_row:
                    write_row()
                    next_row = _next_multiple(steps, cfg.log_every) if cfg.log_every else 0
                if next_eval <= steps < cfg.total_steps:  # the last evaluation is the final one, below
                    evaluation(final=False)
                    next_eval = _next_multiple(steps, eval_every)
                if steps >= next_checkpoint:  # after the evaluation of this step, so a resumed run has it
                    write_row()  # and with nothing left unlogged
                    save()
                    next_checkpoint = _next_multiple(steps, checkpoint_every)
            write_row()
            if stop.signal is not None:
                save()
                bar.close()
                log.close()
                raise Interrupted(steps)
            bar.close()
            self.results = evaluation(final=True)
            save(self.results)
        log.close()
        print(
            f"trained {self.algo_name} on {self.env_id} for {steps:,} steps; final evaluation return "
            f"{_mean(self.results.get('episode_return'))} over {len(self.results.get('episode_return', []))} "
            f"episodes; "
            f"run directory {run.path}"
        )
        return run.path

    def _written(self) -> MetricsLog:
        if self._log is None:
            raise RuntimeError("the experiment has not run yet: call run() first")
        return self._log


class _StopOnSignal:
    """While training: the first SIGINT / SIGTERM asks the loop to stop after the current iteration, a
    second abandons the iteration at once (raising `Interrupted` at the last checkpoint's step). Signals
    are only caught in the main thread, where Python delivers them."""

    def __init__(self, saved_step: int) -> None:
        self.saved_step = saved_step
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, number: int, frame: object) -> None:
        if self.signal is not None:
            raise Interrupted(self.saved_step)
        self.signal = number
        print("\nstopping after this iteration (again to stop now)", file=sys.stderr, flush=True)


def _check_same_run(saved: dict[str, Any], now: dict[str, Any]) -> None:
    # a run saved before a top-level key existed ran with that key's default
    defaults = {
        f.name: f.default
        for f in dataclasses.fields(RunConfig)
        if f.default not in (dataclasses.MISSING, MISSING)
    }
    saved = {**defaults, **saved}
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


def _next_multiple(steps: int, every: int) -> int:
    return (steps // every + 1) * every


def _mean_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    """Each metric's mean over the iterations that reported it (key order of first appearance)."""
    keys = list(dict.fromkeys(key for row in rows for key in row))
    return {key: float(np.mean([row[key] for row in rows if key in row])) for key in keys}


def _rng_state() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"].cpu())
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def _mean(values: list[float] | None) -> str:
    return "n/a" if not values else f"{float(np.mean(values)):.4g}"
