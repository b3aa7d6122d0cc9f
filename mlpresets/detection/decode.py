"""EAST/FOTS decoding: score map + RBOX geometry map -> merged text quadrilaterals."""

from __future__ import annotations

import numbers
from typing import Any, Literal

import numpy as np

from mlpresets import native
from mlpresets.native import reference
from mlpresets.native.arrays import check_finite, real, threshold, to_numpy


def decode_text_boxes(
    score_map: Any,
    geo_map: Any,
    score_thresh: float = 0.8,
    nms_thresh: float = 0.2,
    box_thresh: float = 0.1,
    *,
    stride: int = 4,
    backend: Literal["native", "reference"] = "native",
) -> tuple[np.ndarray, np.ndarray]:
    """Text quads (K, 8) in input-image pixels and their scores (K,), best first.

    score_map: (H, W) or (1, H, W) text probabilities in [0, 1], one map pixel per ``stride``
    input pixels. geo_map: (5, H, W), per pixel the distances to the top, right, bottom and
    left sides of its box in input pixels, then the box angle (see ``native.restore_rbox``).
    Numpy arrays or CPU tensors, as the detector outputs them for one image.

    1. keep the pixels whose score is > ``score_thresh``, row by row (the order EAST feeds to
       locality-aware NMS, so that neighbours along a text line merge first);
    2. each kept pixel (row r, column c) sits at (c * stride, r * stride) in the input image
       and restores its quad from its geometry;
    3. locality-aware NMS with ``nms_thresh``;
    4. rescore each merged quad by the mean score-map value over the map pixels inside it and
       drop those whose mean is <= ``box_thresh`` (EAST's filter of merged false positives),
       and those of zero area.
    """
    score = to_numpy(score_map, "score_map")
    geo = to_numpy(geo_map, "geo_map")
    if score.ndim == 3 and score.shape[0] == 1:
        score = score[0]
    if score.ndim != 2:
        raise ValueError(f"score_map must have shape (H, W) or (1, H, W), got {score.shape}")
    if geo.shape != (5, *score.shape):
        raise ValueError(
            f"geo_map must have shape (5, {score.shape[0]}, {score.shape[1]}), got {geo.shape}"
        )
    score = real(score, "score_map")
    geo = real(geo, "geo_map")
    check_finite(score, "score_map")
    check_finite(geo.reshape(5, -1).T, "geo_map")
    score_thresh = threshold(score_thresh, "score_thresh")
    nms_thresh = threshold(nms_thresh, "nms_thresh")
    box_thresh = threshold(box_thresh, "box_thresh")
    outside = (score < 0) | (score > 1)
    if outside.any():
        row, col = (int(i) for i in np.argwhere(outside)[0])
        raise ValueError(
            f"score_map must hold probabilities in [0, 1], got {score[row, col]} "
            f"at row {row}, column {col}"
        )
    if score_thresh < 0:  # the kept pixels' scores weight the merge: they must be > 0
        raise ValueError(f"score_thresh must be >= 0, got {score_thresh}")
    if (geo[:4] < 0).any():
        channel, row, col = (int(i) for i in np.argwhere(geo[:4] < 0)[0])
        raise ValueError(
            f"geo_map distances (channels 0-3) must be >= 0, got {geo[channel, row, col]} "
            f"at channel {channel}, row {row}, column {col}"
        )
    if (
        not isinstance(stride, numbers.Integral)
        or isinstance(stride, bool)
        or not 1 <= stride <= 2**20
    ):
        raise ValueError(f"stride must be an integer from 1 to 2**20, got {stride!r}")
    above = score.astype(np.float64, copy=False) > score_thresh  # compared in float64
    rows, cols = np.nonzero(above)  # row-major: sorted by y, then x
    origins = np.stack([cols, rows], axis=1).astype(np.float64) * int(stride)  # (N, 2) x, y
    geometry = geo[:, rows, cols].T  # (N, 5)
    scores = score[rows, cols]  # (N,)
    if backend == "native":
        quads = native.restore_rbox(origins, geometry)
        quads, merged_scores = native.locality_aware_nms(quads, scores, nms_thresh)
    elif backend == "reference":
        quads = reference.restore_rbox(origins, geometry)
        quads, merged_scores = reference.locality_aware_nms(quads, scores, nms_thresh)
    else:
        raise ValueError(f"backend must be 'native' or 'reference', got {backend!r}")
    quads = np.asarray(quads, dtype=np.float64)
    box_scores = mean_score_in_quads(score, quads / stride)
    keep = (box_scores > box_thresh) & (np.abs(_area(quads)) > 0)  # a point holds no text
    quads, box_scores = quads[keep], box_scores[keep]
    order = np.argsort(-box_scores, kind="stable")
    return quads[order], box_scores[order]


def _area(quads: np.ndarray) -> np.ndarray:
    """Signed shoelace area of each quad (K, 8)."""
    xs, ys = quads[:, 0::2], quads[:, 1::2]  # (K, 4) each
    return 0.5 * (xs * np.roll(ys, -1, axis=1) - np.roll(xs, -1, axis=1) * ys).sum(axis=1)


def mean_score_in_quads(score: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """Mean of ``score`` (H, W) over the pixels whose position (column, row) lies inside each
    quad (K, 8) given in map coordinates (boundary included); 0 for a quad covering none."""
    height, width = score.shape
    means = np.zeros(len(quads), dtype=np.float64)
    for k, quad in enumerate(quads):
        xs, ys = quad[0::2], quad[1::2]
        x0, x1 = max(int(np.floor(xs.min())), 0), min(int(np.ceil(xs.max())), width - 1)
        y0, y1 = max(int(np.floor(ys.min())), 0), min(int(np.ceil(ys.max())), height - 1)
        if x0 > x1 or y0 > y1:
            continue
        px, py = np.meshgrid(np.arange(x0, x1 + 1), np.arange(y0, y1 + 1))  # (h, w) each
        inside = _inside(px.astype(np.float64), py.astype(np.float64), xs, ys)
        if inside.any():
            means[k] = float(score[y0 : y1 + 1, x0 : x1 + 1][inside].mean())
    return means


def _inside(px: np.ndarray, py: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Points inside the polygon (xs, ys) or on its boundary: even-odd crossings, plus points
    within 1e-9 of an edge."""
    inside = np.zeros(px.shape, dtype=bool)
    on_edge = np.zeros(px.shape, dtype=bool)
    n = len(xs)
    for i in range(n):
        xa, ya, xb, yb = xs[i], ys[i], xs[(i + 1) % n], ys[(i + 1) % n]
        straddles = (ya > py) != (yb > py)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_cross = xa + (py - ya) * (xb - xa) / (yb - ya)
        inside ^= straddles & (px < x_cross)
        cross = (xb - xa) * (py - ya) - (yb - ya) * (px - xa)
        within = (np.minimum(xa, xb) - 1e-9 <= px) & (px <= np.maximum(xa, xb) + 1e-9)
        within &= (np.minimum(ya, yb) - 1e-9 <= py) & (py <= np.maximum(ya, yb) + 1e-9)
        length = np.hypot(xb - xa, yb - ya)
        on_edge |= within & (np.abs(cross) <= 1e-9 * max(length, 1.0))
    return inside | on_edge
