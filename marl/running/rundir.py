"""A run directory: resolved config, metrics (CSV, TensorBoard, marl-eval JSON), checkpoints and videos.

Everything that must survive a crash is written atomically (temp file, then rename), and a resumed run
drops whatever was logged after its last checkpoint so that no step appears twice.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import torch
import yaml

from marl.running.io import atomic_torch_save, atomic_write_json, atomic_write_text

CHECKPOINT = "checkpoints/last.pt"


class RunDirectory:
    """The files of one run, by name."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.config = self.path / "config.yaml"
        self.metrics_csv = self.path / "metrics.csv"
        self.results_json = self.path / "results.json"
        self.eval_json = self.path / "eval.json"
        self.checkpoint = self.path / CHECKPOINT
        self.tensorboard = self.path / "tensorboard"
        self.videos = self.path / "videos"

    def write_config(self, config: dict[str, Any]) -> None:
        atomic_write_text(self.config, yaml.safe_dump(config, sort_keys=False))

    def read_config(self) -> dict[str, Any]:
        if not self.config.is_file():
            raise FileNotFoundError(f"{self.path} is not a run directory: {self.config.name} is missing")
        return yaml.safe_load(self.config.read_text())

    def save_checkpoint(self, payload: dict[str, Any]) -> None:
        atomic_torch_save(self.checkpoint, payload)

    def load_checkpoint(self, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
        if not self.checkpoint.is_file():
            return None
        return torch.load(self.checkpoint, map_location=map_location, weights_only=False)


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

    def __init__(self, run: RunDirectory, env_id: str, algo: str, seed: int, resume_step: int | None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.run = run
        self.family, self.task = env_id.split("/")
        self.algo, self.seed_key = algo, f"seed_{seed}"
        self.rows: list[dict[str, Any]] = []
        self.evaluations: dict[str, Any] = {}
        if resume_step is not None:
            self._drop_after(resume_step)
        self.writer = SummaryWriter(str(run.tensorboard), purge_step=resume_step)

    def log(self, step: int, values: dict[str, float]) -> None:
        row = {"step": step, **values}
        self.rows.append(row)
        for key, value in values.items():
            self.writer.add_scalar(key, value, step)
        self._write_csv()

    def log_evaluation(self, step: int, results: dict[str, list[float]], elapsed: float, final: bool) -> None:
        metrics = {_metric_name(k): v for k, v in results.items()}
        entry = {"step_count": step, "elapsed_time": elapsed, **metrics}
        self.evaluations[f"step_{len(self.evaluations) - ('absolute_metrics' in self.evaluations)}"] = entry
        if final:
            self.evaluations["absolute_metrics"] = metrics
        for key, values in metrics.items():
            if values:
                self.writer.add_scalar(f"eval/{key}", sum(values) / len(values), step)
        layout = {self.family: {self.task: {self.algo: {self.seed_key: self.evaluations}}}}
        atomic_write_json(self.run.results_json, layout)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

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
