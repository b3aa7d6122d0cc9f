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

import math
import numbers
from typing import Any

import numpy as np

try:
    from mlpresets.native import _native
except ImportError as e:  # pragma: no cover - only without a build
    raise ImportError(
        f"mlpresets.native is not built ({e}): run `make install` (pip builds native/ with it)"
    ) from e

QUAD_COORD_LIMIT = 1e300  # |coordinate| of a quad: differences between two stay finite

__all__ = ["batched_nms", "locality_aware_nms", "nms", "polygon_iou", "restore_rbox"]


def _is_tensor(x: Any) -> bool:
    # A torch.Tensor, recognised without importing torch (3.4 s here) for numpy callers.
    return type(x).__module__.partition(".")[0] == "torch" and hasattr(x, "detach")


def _to_numpy(x: Any, name: str) -> np.ndarray:
    if _is_tensor(x):
        if x.device.type != "cpu":
            raise TypeError(f"{name} must be a CPU tensor, got one on {x.device}")
        x = x.detach().resolve_conj().resolve_neg()
        if x.is_floating_point() and x.element_size() < 4:  # float16/bfloat16: no numpy twin
            x = x.float()
        return np.asarray(x.numpy())
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as e:
        raise TypeError(f"{name} must be an array of numbers: {e}") from None


def _real(a: np.ndarray, name: str) -> np.ndarray:
    """float32 and float64 stay as they are, float16 becomes float32 (as torch's half and
    bfloat16 tensors do), other real dtypes float64."""
    if a.dtype in (np.float32, np.float64):
        return a
    if a.dtype == np.float16:
        return a.astype(np.float32)
    if a.dtype.kind in "iuf":
        return a.astype(np.float64)
    raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")


def _check_shape(a: np.ndarray, shape: tuple[int | None, ...], name: str) -> None:
    ok = a.ndim == len(shape) and all(
        w is None or w == s for w, s in zip(shape, a.shape, strict=True)
    )
    if not ok:
        want = "(" + ", ".join("N" if w is None else str(w) for w in shape)
        want += ",)" if len(shape) == 1 else ")"
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")


def _check_length(a: np.ndarray, n: int, name: str, of: str) -> None:
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), one per row of {of}, got {a.shape}")


def _check_finite(a: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(a)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        where = "row" if a.ndim > 1 else "index"
        raise ValueError(f"{name} must be finite, got {a[row].tolist()} at {where} {row}")


def _threshold(x: Any, name: str) -> float:
    if _is_tensor(x) and x.numel() == 1:
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(x).__name__}")
    try:
        value = float(x)
    except OverflowError:  # an int or Fraction beyond float64
        value = math.inf
    if not math.isfinite(value):
        shown = repr(x) if len(repr(x)) <= 40 else repr(x)[:37] + "..."
        raise ValueError(f"{name} must be finite, got {shown}")
    return value


def _coords(x: Any, shape: tuple[int | None, ...], name: str) -> np.ndarray:
    a = _real(_to_numpy(x, name), name)
    _check_shape(a, shape, name)
    _check_finite(a, name)
    return a


def _scores(x: Any, n: int, name: str, of: str) -> np.ndarray:
    a = _real(_to_numpy(x, name), name)
    _check_length(a, n, name, of)
    _check_finite(a, name)
    return a


def _quads(x: Any, name: str) -> np.ndarray:
    a = _real(_to_numpy(x, name), name)
    if not (a.shape == (8,) or (a.ndim == 2 and a.shape[1] == 8)):
        raise ValueError(f"{name} must have shape (8,) or (N, 8), got {a.shape}")
    _check_finite(a, name)
    _check_extent(a, name)
    return a


def _check_extent(a: np.ndarray, name: str) -> None:
    """Quad coordinates small enough that differences between two stay finite in float64."""
    if a.dtype == np.float32:  # at most 3.4e38
        return
    big = np.abs(a) > QUAD_COORD_LIMIT
    if big.any():
        row = int(np.argwhere(big)[0][0])
        where = "row" if a.ndim > 1 else "index"
        raise ValueError(
            f"{name} coordinates must lie within +-{QUAD_COORD_LIMIT:g} (differences between "
            f"them must stay finite), got {a[row].tolist()} at {where} {row}"
        )


def _contiguous(a: np.ndarray, dtype: type) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=dtype)


def _out(arrays: tuple[Any, ...], result: np.ndarray) -> Any:
    """torch tensors out when a torch tensor came in."""
    if any(_is_tensor(a) for a in arrays):
        import torch

        return torch.from_numpy(result)
    return result


def _cast_result(a: np.ndarray, dtype: Any, what: str) -> np.ndarray:
    """`a` as `dtype`, refusing a result that is not finite there (values too large)."""
    with np.errstate(over="ignore"):
        out = a.astype(dtype, copy=False)
    if not np.isfinite(out).all():
        raise ValueError(f"{what}: the result overflows {np.dtype(dtype)} (values too large)")
    return out


def nms(boxes: Any, scores: Any, iou_threshold: float) -> Any:
    """Greedy NMS: indices (int64) of the kept boxes, by decreasing score.

    boxes (N, 4) as x1, y1, x2, y2; scores (N,). A box is dropped when its IoU with a kept,
    higher-scoring box is > ``iou_threshold``. Identical to ``torchvision.ops.nms``: float32
    boxes are computed in float32 and float64 boxes in float64, as torchvision's CPU kernel
    does, and equal scores keep their input order.
    """
    b = _coords(boxes, (None, 4), "boxes")
    s = _scores(scores, b.shape[0], "scores", "boxes")
    thr = _threshold(iou_threshold, "iou_threshold")
    if b.dtype == np.float32:
        keep = _native.nms_float32(_contiguous(b, np.float32), _contiguous(s, np.float64), thr)
    else:
        keep = _native.nms_float64(_contiguous(b, np.float64), _contiguous(s, np.float64), thr)
    return _out((boxes, scores), keep)


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
    b = _coords(boxes, (None, 4), "boxes")
    s = _scores(scores, b.shape[0], "scores", "boxes")
    c = _to_numpy(classes, "classes")
    if c.dtype.kind not in "iub":
        raise TypeError(f"classes must hold integers, got dtype {c.dtype}")
    _check_length(c, b.shape[0], "classes", "boxes")
    thr = _threshold(iou_threshold, "iou_threshold")
    args = (_contiguous(s, np.float64), _contiguous(c, np.int64), thr)
    if b.dtype == np.float32:
        keep = _native.batched_nms_float32(_contiguous(b, np.float32), *args)
    else:
        keep = _native.batched_nms_float64(_contiguous(b, np.float64), *args)
    return _out((boxes, scores, classes), keep)


def polygon_iou(a: Any, b: Any) -> Any:
    """IoU of quadrilaterals given as 8 coordinates x0 y0 x1 y1 x2 y2 x3 y3.

    a and b are (8,) or (N, 8); a single quad pairs with every row of the other. Returns a
    float for two single quads, else (N,) float64. Vertices may run either way round.
    Exact for convex quads and for simple non-convex ones (split into two triangles at the
    reflex vertex). A self-intersecting ("bow-tie") order is read as the simple quad through
    the same four points. A degenerate quad (zero area) has IoU 0 with everything.
    """
    qa, qb = _quads(a, "a"), _quads(b, "b")
    single = qa.ndim == 1 and qb.ndim == 1
    qa2, qb2 = np.atleast_2d(qa), np.atleast_2d(qb)
    if qa2.shape[0] != qb2.shape[0] and 1 not in (qa2.shape[0], qb2.shape[0]):
        raise ValueError(
            "a and b must have the same number of rows (or one quad), "
            f"got {qa.shape} and {qb.shape}"
        )
    qa2, qb2 = np.broadcast_arrays(qa2, qb2)
    iou = _native.polygon_iou(_contiguous(qa2, np.float64), _contiguous(qb2, np.float64))
    iou = _cast_result(iou, np.float64, "polygon_iou")
    if single:
        return float(iou[0])
    return _out((a, b), iou)


def locality_aware_nms(quads: Any, scores: Any, iou_threshold: float) -> tuple[Any, Any]:
    """Locality-aware NMS (EAST/FOTS): merged quads (K, 8) and their scores (K,).

    Rows are walked in the given order; a quad whose IoU with the previous kept quad is
    > ``iou_threshold`` is merged into it (coordinates: the score-weighted mean of all merged
    quads; score: their sum). Then greedy polygon NMS on the merged quads by decreasing score,
    which is also the output order. Scores must be > 0: they are the merge weights.
    """
    q = _coords(quads, (None, 8), "quads")
    _check_extent(q, "quads")
    s = _scores(scores, q.shape[0], "scores", "quads")
    if (s <= 0).any():
        row = int(np.argmax(s <= 0))
        raise ValueError(f"scores must be > 0 (they weight the merge), got {s[row]} at row {row}")
    thr = _threshold(iou_threshold, "iou_threshold")
    out_q, out_s = _native.locality_aware_nms(
        _contiguous(q, np.float64), _contiguous(s, np.float64), thr
    )
    out_q = _cast_result(out_q, q.dtype, "locality_aware_nms")
    out_s = _cast_result(out_s, s.dtype, "locality_aware_nms")
    return _out((quads, scores), out_q), _out((quads, scores), out_s)


def restore_rbox(origins: Any, geometry: Any) -> Any:
    """Quads (N, 8) from pixel positions (N, 2) as x, y and RBOX geometry (N, 5).

    geometry rows are the distances from the pixel to the top, right, bottom and left sides of
    its rectangle (>= 0) and the rectangle's angle in radians. With the image's x to the right
    and y down, the rectangle's axes are (cos a, sin a) and (-sin a, cos a): a positive angle
    turns it clockwise on screen. Quads run top-left, top-right, bottom-right, bottom-left.
    The result is float32 when both inputs are float32, else float64.
    """
    o = _coords(origins, (None, 2), "origins")
    g = _coords(geometry, (None, 5), "geometry")
    if g.shape[0] != o.shape[0]:
        raise ValueError(
            f"geometry must have shape ({o.shape[0]}, 5), one row per origin, got {g.shape}"
        )
    if (g[:, :4] < 0).any():
        row = int(np.argmax((g[:, :4] < 0).any(axis=1)))
        raise ValueError(
            f"geometry distances (columns 0-3) must be >= 0, got {g[row].tolist()} at row {row}"
        )
    quads = _native.restore_rbox(_contiguous(o, np.float64), _contiguous(g, np.float64))
    dtype = np.float32 if o.dtype == g.dtype == np.float32 else np.float64
    return _out((origins, geometry), _cast_result(quads, dtype, "restore_rbox"))
