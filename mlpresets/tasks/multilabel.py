"""Multi-label test reports: per-class ranked predictions and the tail accuracy curve."""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

TAIL_POINTS = 20
TAIL_START = 0.5


def tail_accuracy(
    scores: torch.Tensor,
    targets: torch.Tensor,
    points: int = TAIL_POINTS,
    start: float = TAIL_START,
) -> list[dict[str, float]]:
    """The report's tail accuracy: precision among the highest-scored images, per threshold.

    For each of `points` thresholds t from `start` up to the highest score: for each class c,
    among the images whose score for c is at least t, the fraction that truly contain c;
    averaged over the classes that have such images. "At least" rather than "above", so the
    last threshold (the highest score) still holds its image. Empty when no score reaches
    `start`.
    """
    # scores: (N, C) probabilities; targets: (N, C) multi-hot
    top = float(scores.max()) if scores.numel() else 0.0
    if top < start:
        log.warning("tail accuracy: no test score reaches %.2f (highest %.3f)", start, top)
        return []
    positive = targets > 0.5  # (N, C)
    curve = []
    for t in torch.linspace(start, top, points, dtype=torch.float64).tolist():
        above = scores.double() >= t  # (N, C)
        count = above.sum(dim=0)  # (C,) images at or above t, per class
        hits = (above & positive).sum(dim=0)  # (C,) of which contain the class
        ranked = count > 0
        acc = (hits[ranked] / count[ranked]).mean()
        curve.append({"threshold": round(t, 6), "tail_acc": float(acc)})
    return curve


def write_rankings(
    folder: Path,
    scores: torch.Tensor,
    targets: torch.Tensor,
    class_names: Sequence[str],
    ids: Sequence[str],
) -> None:
    """predictions/{class}.csv: image_id, score, label; best score first (ties: id order)."""
    # scores, targets: (N, C)
    if len(ids) != len(scores):
        raise ValueError(f"{len(ids)} sample ids for {len(scores)} test predictions")
    folder.mkdir(parents=True, exist_ok=True)
    for c, name in enumerate(class_names):
        order = sorted(range(len(ids)), key=lambda i: -float(scores[i, c]))  # stable
        with (folder / f"{name}.csv").open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["image_id", "score", "label"])
            for i in order:
                writer.writerow([ids[i], f"{float(scores[i, c]):.8f}", int(targets[i, c] > 0.5)])


def report(
    out: Path,
    scores: torch.Tensor,
    targets: torch.Tensor,
    class_names: Sequence[str],
    ids: Sequence[str],
    loggers: Sequence[Any] = (),
) -> dict[str, Any]:
    """Write predictions/ under the run dir, log the tail curve; metrics.json entries."""
    write_rankings(out / "predictions", scores, targets, class_names, ids)
    curve = tail_accuracy(scores, targets)
    from pytorch_lightning.loggers import TensorBoardLogger

    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            for point in curve:
                # x axis: the threshold in thousandths (TensorBoard steps are integers)
                step = round(point["threshold"] * 1000)
                logger.experiment.add_scalar("test/tail_acc", point["tail_acc"], step)
    log.info("wrote %s (%d classes)", out / "predictions", len(class_names))
    return {"test/tail_acc": curve, "predictions": "predictions"}
