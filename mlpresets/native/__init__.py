"""Detection kernels in C++ (native/src, bound with pybind11): box NMS, quad IoU, locality-aware
NMS and RBOX decoding.

Arrays in, arrays out: numpy arrays, anything numpy can read as numbers (lists), or CPU torch
tensors; when an input is a torch tensor the outputs are torch tensors too. Inputs of any
stride are copied into the layout the kernels read. Validation happens here, in Python, so
that every bad input gets one clear ``ValueError``/``TypeError``; the kernels release the GIL
while they compute. ``mlpresets.native.reference`` holds a plain numpy version of each
function, which the tests and ``benchmarks/nms.py`` compare against.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    from mlpresets.native import _native
except ImportError as e:  # pragma: no cover - only without a build
    raise ImportError(
        f"mlpresets.native is not built ({e}): run `make install` (pip builds native/ with it)"
    ) from e
from mlpresets.native.arrays import (
    as_coords,
    as_quads,
    as_scores,
    cast_result,
    check_extent,
    check_length,
    contiguous,
    first_bad,
    like_input,
    threshold,
    to_numpy,
)

__all__ = ["batched_nms", "locality_aware_nms", "nms", "polygon_iou", "restore_rbox"]


def nms(boxes: Any, scores: Any, iou_threshold: float) -> Any:
    """Greedy NMS: indices (int64) of the kept boxes, by decreasing score.

    boxes (N, 4) as x1, y1, x2, y2; scores (N,). A box is dropped when its IoU with a kept,
    higher-scoring box is > ``iou_threshold``. Identical to ``torchvision.ops.nms``: float32
    boxes are computed in float32 and float64 boxes in float64, as torchvision's CPU kernel
    does, and equal scores keep their input order.
    """
    b = as_coords(boxes, (None, 4), "boxes")
    s = as_scores(scores, b.shape[0], "scores", "boxes")
    thr = threshold(iou_threshold, "iou_threshold")
    if b.dtype == np.float32:
        keep = _native.nms_float32(contiguous(b, np.float32), contiguous(s, np.float64), thr)
    else:
        keep = _native.nms_float64(contiguous(b, np.float64), contiguous(s, np.float64), thr)
    return like_input((boxes, scores), keep)


def batched_nms(boxes: Any, scores: Any, classes: Any, iou_threshold: float) -> Any:
    """NMS within each class: indices (int64) of the kept boxes, by decreasing score.

    Same arguments as ``nms`` plus ``classes`` (N,) integers; boxes of different classes never
    suppress each other. Identical to ``torchvision.ops.batched_nms``, with two fine points:
    up to 1000 boxes torchvision shifts each class by an offset and runs one NMS, which rounds
    the shifted coordinates, so an IoU within a rounding error of the threshold could decide
    differently there (ours runs each class on its own, exactly); above 1000 boxes it does the
    same as ours but sorts the result with an unstable sort, so equal scores may come in
    another order there (ours: by index). With a negative threshold torchvision's small-input
    path also suppresses across classes (their shifted boxes have IoU 0 > threshold); ours
    never does.
    """
    b = as_coords(boxes, (None, 4), "boxes")
    s = as_scores(scores, b.shape[0], "scores", "boxes")
    c = to_numpy(classes, "classes")
    if c.dtype.kind not in "iub":
        raise TypeError(f"classes must hold integers, got dtype {c.dtype}")
    check_length(c, b.shape[0], "classes", "boxes")
    thr = threshold(iou_threshold, "iou_threshold")
    args = (contiguous(s, np.float64), contiguous(c, np.int64), thr)
    if b.dtype == np.float32:
        keep = _native.batched_nms_float32(contiguous(b, np.float32), *args)
    else:
        keep = _native.batched_nms_float64(contiguous(b, np.float64), *args)
    return like_input((boxes, scores, classes), keep)


def polygon_iou(a: Any, b: Any) -> Any:
    """IoU of quadrilaterals given as 8 coordinates x0 y0 x1 y1 x2 y2 x3 y3.

    a and b are (8,) or (N, 8); a single quad pairs with every row of the other. Returns a
    float for two single quads, else (N,) float64. Vertices may run either way round.
    Exact for convex quads and for simple non-convex ones (split into two triangles at the
    reflex vertex). A self-intersecting ("bow-tie") order is read as the simple quad through
    the same four points. A degenerate quad (zero area) has IoU 0 with everything.
    """
    qa, qb = as_quads(a, "a"), as_quads(b, "b")
    single = qa.ndim == 1 and qb.ndim == 1
    qa2, qb2 = np.atleast_2d(qa), np.atleast_2d(qb)
    if qa2.shape[0] != qb2.shape[0] and 1 not in (qa2.shape[0], qb2.shape[0]):
        raise ValueError(
            "a and b must have the same number of rows (or one quad), "
            f"got {qa.shape} and {qb.shape}"
        )
    qa2, qb2 = np.broadcast_arrays(qa2, qb2)
    iou = _native.polygon_iou(contiguous(qa2, np.float64), contiguous(qb2, np.float64))
    iou = cast_result(iou, np.float64, "polygon_iou")
    if single:
        return float(iou[0])
    return like_input((a, b), iou)


def locality_aware_nms(quads: Any, scores: Any, iou_threshold: float) -> tuple[Any, Any]:
    """Locality-aware NMS (EAST/FOTS): merged quads (K, 8) and their scores (K,).

    Rows are walked in the given order; a quad whose IoU with the previous kept quad is
    > ``iou_threshold`` is merged into it (coordinates: the score-weighted mean of all merged
    quads; score: their sum). Then greedy polygon NMS on the merged quads by decreasing score,
    which is also the output order. Scores must be > 0: they are the merge weights.
    """
    q = as_coords(quads, (None, 8), "quads")
    check_extent(q, "quads")
    s = as_scores(scores, q.shape[0], "scores", "quads")
    if (s <= 0).any():
        raise ValueError(f"scores must be > 0 (they weight the merge), got {first_bad(s, s <= 0)}")
    thr = threshold(iou_threshold, "iou_threshold")
    out_q, out_s = _native.locality_aware_nms(
        contiguous(q, np.float64), contiguous(s, np.float64), thr
    )
    out_q = cast_result(out_q, q.dtype, "locality_aware_nms")
    out_s = cast_result(out_s, s.dtype, "locality_aware_nms")
    return like_input((quads, scores), out_q), like_input((quads, scores), out_s)


def restore_rbox(origins: Any, geometry: Any) -> Any:
    """Quads (N, 8) from pixel positions (N, 2) as x, y and RBOX geometry (N, 5).

    geometry rows are the distances from the pixel to the top, right, bottom and left sides of
    its rectangle (>= 0) and the rectangle's angle in radians. With the image's x to the right
    and y down, the rectangle's axes are (cos a, sin a) and (-sin a, cos a): a positive angle
    turns it clockwise on screen. Quads run top-left, top-right, bottom-right, bottom-left.
    The result is float32 when both inputs are float32, else float64.
    """
    o = as_coords(origins, (None, 2), "origins")
    g = as_coords(geometry, (None, 5), "geometry")
    if g.shape[0] != o.shape[0]:
        raise ValueError(
            f"geometry must have shape ({o.shape[0]}, 5), one row per origin, got {g.shape}"
        )
    negative = (g[:, :4] < 0).any(axis=1)
    if negative.any():
        raise ValueError(
            f"geometry distances (columns 0-3) must be >= 0, got {first_bad(g, negative)}"
        )
    quads = _native.restore_rbox(contiguous(o, np.float64), contiguous(g, np.float64))
    dtype = np.float32 if o.dtype == g.dtype == np.float32 else np.float64
    return like_input((origins, geometry), cast_result(quads, dtype, "restore_rbox"))
