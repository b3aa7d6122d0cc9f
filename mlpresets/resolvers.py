"""OmegaConf resolvers used by conf/config.yaml. Imported by run.py before Hydra composes."""

from __future__ import annotations

import os

from omegaconf import OmegaConf


def unique_dir(path: str) -> str:
    """Create and return `path`, or `path_1`, `path_2`... if it already exists.

    Two runs (or two sweep workers) started in the same second would otherwise share, and
    overwrite, one directory: creating it here claims it atomically. Registered with
    use_cache, and Hydra copies that cache into every job of a sweep, so every later
    resolution agrees on the one directory claimed.
    """
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    candidate, n = path, 0
    while True:
        try:
            os.mkdir(candidate)
            return candidate
        except FileExistsError:
            n += 1
            candidate = f"{path}_{n}"


# The validation metric each classifier task is judged by (checkpoints, schedulers, sweeps).
TASK_METRIC = {"multiclass": "val/acc", "multilabel": "val/mAP"}


def task_metric(task: str) -> str:
    """`${task_metric:${task.task}}`: val/acc or val/mAP (an unknown task is named later,
    when the classifier is built)."""
    return TASK_METRIC.get(task, "val/acc")


def register() -> None:
    if not OmegaConf.has_resolver("unique_dir"):
        OmegaConf.register_new_resolver("unique_dir", unique_dir, use_cache=True)
    if not OmegaConf.has_resolver("task_metric"):
        OmegaConf.register_new_resolver("task_metric", task_metric)
