"""A run directory: resolved config, metrics (CSV, TensorBoard, marl-eval JSON), checkpoints and videos.

Everything that must survive a crash is written atomically (temp file, then rename), and a resumed run
drops whatever was logged after its last checkpoint so that no step appears twice.
"""

from __future__ import annotations

import csv
import io
import json
import pickle
import time
import zipfile
from pathlib import Path
from typing import Any

import torch
import yaml

from marl.running.io import atomic_torch_save, atomic_write_json, atomic_write_text

CHECKPOINT = "checkpoints/last.pt"


def check_run_dir(path: str | Path) -> None:
    """A run directory must be named, must not be a file, and must not hold '=' (Hydra would read it as an
    override); ValueError says which."""
    text = str(path)
    if not text.strip():
        raise ValueError("run_dir is empty: give a directory for the run's files, e.g. run_dir=runs/first")
    if "=" in text:
        raise ValueError(
            f"run_dir {text!r} contains '=', which Hydra reads as an override: pick another name"
        )
    if Path(text).exists() and not Path(text).is_dir():
        raise ValueError(f"run_dir {text!r} is a file, not a directory: pick a new or existing run directory")


class RunDirectory:
    """The files of one run, by name."""

    def __init__(self, path: str | Path) -> None:
        check_run_dir(path)
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.config = self.path / "config.yaml"
        self.metrics_csv = self.path / "metrics.csv"
        self.results_json = self.path / "results.json"
        self.eval_json = self.path / "eval.json"
        self.checkpoint = self.path / CHECKPOINT
        self.tensorboard = self.path / "tensorboard"
        self.videos = self.path / "videos"

    def check_is_run(self) -> None:
        """Refuse a folder that holds files but no run (no run's config.yaml): training would overwrite them."""
        if self.config.is_file():
            saved = self.read_config()
            if isinstance(saved, dict) and {"env", "algo"} <= saved.keys():
                return
            problem = f"its {self.config.name} is not a run's (no env and algo keys)"
        elif any(self.path.iterdir()):
            problem = f"it has other files and no run in it (no {self.config.name})"
        else:
            return
        raise ValueError(
            f"run_dir {str(self.path)!r} is not a run directory: {problem}; pick a new or empty directory, "
            "or the directory of a run to resume"
        )

    def write_config(self, config: dict[str, Any]) -> None:
        atomic_write_text(self.config, yaml.safe_dump(config, sort_keys=False))

    def read_config(self) -> dict[str, Any]:
        if not self.config.is_file():
            raise FileNotFoundError(f"{self.path} is not a run directory: {self.config.name} is missing")
        try:
            return yaml.safe_load(self.config.read_text())
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            reason = (str(err).strip().splitlines() or [""])[0]
            raise ValueError(f"{self.config} is not a readable run config ({reason})") from None

    def save_checkpoint(self, payload: dict[str, Any]) -> None:
        atomic_torch_save(self.checkpoint, payload)

    def load_checkpoint(self, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
        if not self.checkpoint.is_file():
            return None
        return load_checkpoint_file(self.checkpoint, map_location)


def load_checkpoint_file(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """`torch.load` a checkpoint; a truncated, empty or garbage file raises ValueError naming it."""
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=False)
    except (RuntimeError, OSError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, ValueError) as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(
            f"checkpoint {path} is corrupt or truncated ({reason}); restore it or delete it to start over"
        ) from err
    if not isinstance(checkpoint, dict) or "algorithm" not in checkpoint:
        raise ValueError(f"checkpoint {path} is not a marl checkpoint (no 'algorithm' state in it)")
    return checkpoint


def resolve_checkpoint(path: str | Path) -> tuple[RunDirectory, Path]:
    """Accept a run directory or a checkpoint file inside one; return both."""
    path = Path(path)
    if path.is_dir():
        run = RunDirectory(path)
        if not run.checkpoint.is_file():
            raise FileNotFoundError(f"no checkpoint in {path}: expected {run.checkpoint}")
        return run, run.checkpoint
    if path.is_file():
        return RunDirectory(path.parent.parent if path.parent.name == "checkpoints" else path.parent), path
    raise FileNotFoundError(f"checkpoint {path} does not exist (give a run directory or a .pt file)")


class MetricsLog:
    """Training metrics as CSV rows and TensorBoard scalars, evaluations in the marl-eval JSON layout:
    `{env: {task: {algo: {seed_k: {step_i: {step_count, metric: [per episode]}, absolute_metrics}}}}}`."""

    def __init__(
        self, run: RunDirectory, env_id: str, algo: str, seed: int, resume_step: int, task: str = ""
    ) -> None:
        """Rows and evaluations logged after `resume_step` (the checkpoint's step; -1 for a run that starts
        from scratch) are dropped from every output, so nothing appears twice. `task` names the task in
        results.json (default: the environment's task, e.g. simple_spread for mpe/simple_spread)."""
        self.run = run
        self.family, self.task = env_id.split("/")
        self.task = task or self.task
        self.algo, self.seed_key = algo, f"seed_{seed}"
        self.rows: list[dict[str, Any]] = []
        self.evaluations: dict[str, Any] = {}
        self.resume_step = resume_step
        self._writer: Any = None
        self._drop_after(resume_step)

    @property
    def writer(self) -> Any:
        """The TensorBoard writer, opened at the first scalar (a finished run resumed writes nothing)."""
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            # TensorBoard reads a folder's event files in name order, which starts with the creation second:
            # a resumed run's file must sort after those of the run it continues
            seconds = [int(f.name.split(".")[3]) for f in self.run.tensorboard.glob("events.out.tfevents.*")]
            time.sleep(max(0.0, max(seconds, default=0) + 1 - time.time()))

            # TensorBoard drops events at and after purge_step; those at the checkpoint's own step are kept
            self._writer = SummaryWriter(str(self.run.tensorboard), purge_step=self.resume_step + 1)
        return self._writer

    def log(self, step: int, values: dict[str, float]) -> None:
        row = {"step": step, **values}
        self.rows.append(row)
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)
        self._write_csv()

    def log_evaluation(
        self,
        step: int,
        results: dict[str, list[float]],
        elapsed: float,
        final: bool,
        absolute: dict[str, list[float]] | None = None,
    ) -> None:
        """One evaluation as `step_i`; the final one is also the run's `absolute_metrics` (or `absolute`, a
        larger final evaluation, when given)."""
        metrics = {_metric_name(k): v for k, v in results.items()}
        entry = {"step_count": step, "elapsed_time": elapsed, **metrics}
        self.evaluations[f"step_{len(self.evaluations) - ('absolute_metrics' in self.evaluations)}"] = entry
        if final:
            absolute_metrics = {_metric_name(k): v for k, v in absolute.items()} if absolute else metrics
            self.evaluations["absolute_metrics"] = absolute_metrics
        for key, values in metrics.items():
            if values:
                self.writer.add_scalar(f"eval/{key}", sum(values) / len(values), step)
        layout = {self.family: {self.task: {self.algo: {self.seed_key: self.evaluations}}}}
        atomic_write_json(self.run.results_json, layout)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def _write_csv(self) -> None:
        columns: list[str] = []
        for row in self.rows:
            columns += [k for k in row if k not in columns]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns)
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.run.metrics_csv, buffer.getvalue())

    def _drop_after(self, step: int) -> None:
        """Keep only what was logged up to the checkpoint being resumed."""
        if self.run.metrics_csv.is_file():
            with open(self.run.metrics_csv, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
            self.rows = [{k: _number(v) for k, v in r.items() if v != ""} for r in rows]
            self._write_csv()
        if self.run.results_json.is_file():
            layout = json.loads(self.run.results_json.read_text())
            evaluations = layout[self.family][self.task][self.algo][self.seed_key]
            evaluations.pop("absolute_metrics", None)
            self.evaluations = {k: v for k, v in evaluations.items() if v["step_count"] <= step}


def _metric_name(info_key: str) -> str:
    return "return" if info_key == "episode_return" else info_key.replace("/", "_")


def _number(text: str) -> float | int:
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text else value
