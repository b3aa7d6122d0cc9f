"""Input checks and conversions shared by mlpresets.native and mlpresets.detection.

Every check raises one line naming the argument: ValueError for shapes and values, TypeError
for dtypes and types. Torch tensors are recognised without importing torch.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

QUAD_COORD_LIMIT = 1e300  # |coordinate| of a quad: differences between two stay finite


def is_tensor(x: Any) -> bool:
    # A torch.Tensor, recognised without importing torch (3.4 s here) for numpy callers.
    return type(x).__module__.partition(".")[0] == "torch" and hasattr(x, "detach")


def to_numpy(x: Any, name: str) -> np.ndarray:
    if is_tensor(x):
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


def real(a: np.ndarray, name: str) -> np.ndarray:
    """float32 and float64 stay as they are, float16 becomes float32 (as torch's half and
    bfloat16 tensors do), other real dtypes float64."""
    if a.dtype in (np.float32, np.float64):
        return a
    if a.dtype == np.float16:
        return a.astype(np.float32)
    if a.dtype.kind in "iuf":
        return a.astype(np.float64)
    raise TypeError(f"{name} must hold real numbers, got dtype {a.dtype}")


def check_shape(a: np.ndarray, shape: tuple[int | None, ...], name: str) -> None:
    ok = a.ndim == len(shape) and all(
        w is None or w == s for w, s in zip(shape, a.shape, strict=True)
    )
    if not ok:
        want = "(" + ", ".join("N" if w is None else str(w) for w in shape)
        want += ",)" if len(shape) == 1 else ")"
        raise ValueError(f"{name} must have shape {want}, got {a.shape}")


def check_length(a: np.ndarray, n: int, name: str, of: str) -> None:
    if a.ndim != 1 or a.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), one per row of {of}, got {a.shape}")


def first_bad(a: np.ndarray, bad: Any) -> str:
    """'VALUE at row R' (or 'at index I' for 1-D) for the first True of `bad`."""
    row = int(np.argwhere(bad)[0][0])
    return f"{a[row].tolist()} at {'row' if a.ndim > 1 else 'index'} {row}"


def check_finite(a: np.ndarray, name: str) -> None:
    bad = ~np.isfinite(a)
    if bad.any():
        raise ValueError(f"{name} must be finite, got {first_bad(a, bad)}")


def threshold(x: Any, name: str) -> float:
    if is_tensor(x) and x.numel() == 1:
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


def as_coords(x: Any, shape: tuple[int | None, ...], name: str) -> np.ndarray:
    a = real(to_numpy(x, name), name)
    check_shape(a, shape, name)
    check_finite(a, name)
    return a


def as_scores(x: Any, n: int, name: str, of: str) -> np.ndarray:
    a = real(to_numpy(x, name), name)
    check_length(a, n, name, of)
    check_finite(a, name)
    return a


def as_quads(x: Any, name: str) -> np.ndarray:
    a = real(to_numpy(x, name), name)
    if not (a.shape == (8,) or (a.ndim == 2 and a.shape[1] == 8)):
        raise ValueError(f"{name} must have shape (8,) or (N, 8), got {a.shape}")
    check_finite(a, name)
    check_extent(a, name)
    return a


def check_extent(a: np.ndarray, name: str) -> None:
    """Quad coordinates small enough that differences between two stay finite in float64."""
    if a.dtype == np.float32:  # at most 3.4e38
        return
    big = np.abs(a) > QUAD_COORD_LIMIT
    if big.any():
        raise ValueError(
            f"{name} coordinates must lie within +-{QUAD_COORD_LIMIT:g} (differences between "
            f"them must stay finite), got {first_bad(a, big)}"
        )


def contiguous(a: np.ndarray, dtype: type) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=dtype)


def like_input(arrays: tuple[Any, ...], result: np.ndarray) -> Any:
    """torch tensors out when a torch tensor came in."""
    if any(is_tensor(a) for a in arrays):
        import torch

        return torch.from_numpy(result)
    return result


def cast_result(a: np.ndarray, dtype: Any, what: str) -> np.ndarray:
    """`a` as `dtype`, refusing a result that is not finite there (values too large)."""
    with np.errstate(over="ignore"):
        out = a.astype(dtype, copy=False)
    if not np.isfinite(out).all():
        raise ValueError(f"{what}: the result overflows {np.dtype(dtype)} (values too large)")
    return out
