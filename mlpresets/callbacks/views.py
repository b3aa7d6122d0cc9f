"""The diagnostics' captioned pictures, from images and predictions (no model, no Lightning).

Captions are green (render.GOOD) when the prediction is right and red (render.BAD) when
wrong; a frame of the same colour goes round the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from mlpresets.callbacks import render

MULTICLASS_LINES = 2  # under a val prediction: the predicted class (+ the true one when wrong)
MULTILABEL_LINES = 3  # the first three predicted (or missed) classes
RANKED_LINES = 2  # top-k/bottom-k: the sample id, then its score and whether it holds the class
MISTAKE_LINES = 2  # the predicted class and score, the true class and its score
OCCLUSION_LINES = 1  # the explained class and its score; the map's largest drop


def prediction_tile(
    picture: np.ndarray,
    scores: torch.Tensor,
    label: torch.Tensor,
    names: Sequence[str],
    size: int,
    threshold: float,
) -> np.ndarray:
    """A val image captioned with what the model predicts for it.

    Multi-class (a scalar `label`): the predicted class and its score, and the true class
    when wrong. Multi-label (a (C,) multi-hot `label`): the classes scored >= threshold,
    each green (present) or red (absent), then the missed present classes in brackets; the
    frame is green only when the predicted and the true sets agree.
    """
    # scores: (C,) probabilities
    if label.ndim == 0:
        p, t = int(scores.argmax()), int(label)
        colour = render.GOOD if p == t else render.BAD
        lines = [(f"{names[p]} {scores[p]:.2f}", colour)]
        if p != t:
            lines.append((f"true {names[t]}", render.TEXT))
        return render.captioned(picture, lines, size, MULTICLASS_LINES, colour)
    order = torch.sort(scores, descending=True, stable=True).indices.tolist()
    predicted = [c for c in order if scores[c] >= threshold]
    present = {c for c in order if label[c] > 0.5}
    lines = [
        (f"{names[c]} {scores[c]:.2f}", render.GOOD if c in present else render.BAD)
        for c in predicted
    ]
    lines += [
        (f"({names[c]} {scores[c]:.2f})", render.BAD)
        for c in order
        if c in present and c not in predicted
    ]
    colour = render.GOOD if set(predicted) == present else render.BAD
    return render.captioned(picture, lines, size, MULTILABEL_LINES, colour)


def ranked(scores: torch.Tensor, k: int) -> tuple[list[int], list[int]]:
    """Indices of the k highest (best first) and k lowest (lowest first) of (N,) scores."""
    order = torch.sort(scores, descending=True, stable=True).indices.tolist()
    return order[:k], order[::-1][:k]


def ranked_tile(
    picture: np.ndarray, sample_id: str, score: float, present: bool, top: bool, size: int
) -> np.ndarray:
    """A top-k (or bottom-k) image for one class: right when present (absent) in it."""
    colour = render.GOOD if present == top else render.BAD
    lines = [(sample_id, render.TEXT), (f"{score:.2f} {'yes' if present else 'no'}", colour)]
    return render.captioned(picture, lines, size, RANKED_LINES, colour)


def confident_mistakes(scores: torch.Tensor, targets: torch.Tensor, k: int) -> list[int]:
    """The k wrongly classified samples with the highest predicted score, highest first."""
    # scores: (N, C) probabilities; targets: (N,) class indices
    confidence, predicted = scores.max(dim=1)  # (N,), (N,)
    wrong = torch.nonzero(predicted != targets).flatten()  # (M,)
    return wrong[confidence[wrong].argsort(descending=True, stable=True)][:k].tolist()


def mistake_tile(
    picture: np.ndarray, scores: torch.Tensor, target: int, names: Sequence[str], size: int
) -> np.ndarray:
    p = int(scores.argmax())  # scores: (C,)
    lines = [
        (f"{names[p]} {scores[p]:.2f}", render.BAD),
        (f"true {names[target]} {scores[target]:.2f}", render.TEXT),
    ]
    return render.captioned(picture, lines, size, MISTAKE_LINES, render.BAD)


def confusion(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(C, C) counts from (N, C) scores and (N,) targets; rows true, columns predicted."""
    n = scores.shape[1]
    predicted = scores.argmax(dim=1)  # (N,)
    return torch.bincount(targets.long() * n + predicted, minlength=n * n).view(n, n)


def explained_class(scores: torch.Tensor, label: torch.Tensor) -> int:
    """The class an occlusion map explains: the true one (multi-class), else the
    best-scored present one (multi-label; the best-scored of all when none is present)."""
    if label.ndim == 0:
        return int(label)
    present = label > 0.5  # (C,)
    if not present.any():
        return int(scores.argmax())
    return int(scores.where(present, torch.full_like(scores, -1.0)).argmax())


def occlusion_pair(
    picture: np.ndarray, drop: torch.Tensor, name: str, score: float, size: int
) -> list[np.ndarray]:
    """The image (captioned with the explained class and score) and its occlusion heat map.

    `drop` is (H, W), the score drop when each region is hidden; it is shown relative to
    its largest magnitude: red where hiding lowers the score, blue where it raises it.
    """
    peak = float(drop.abs().max())
    heat = render.heat_overlay(picture, drop / peak if peak > 0 else drop)
    return [
        render.captioned(picture, [(f"{name} {score:.2f}", render.TEXT)], size, OCCLUSION_LINES),
        render.captioned(
            heat, [(f"max drop {float(drop.max()):.2f}", render.TEXT)], size, OCCLUSION_LINES
        ),
    ]
