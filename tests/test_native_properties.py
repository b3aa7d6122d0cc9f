"""Property tests (hypothesis) of mlpresets.native and decode_text_boxes.

Two kinds:
- fuzz: random shapes (0-3 dims, sizes incl. 0), dtypes (bool .. complex, object, str), values
  (NaN, inf, 1e300, subnormal, negative) as numpy arrays, lists or torch tensors, thrown at
  every public function. The only acceptable outcomes are the documented result (shape, dtype,
  finite values) for a valid input and ValueError/TypeError for an invalid one: an invalid
  input that is accepted, a valid one that is refused, or any other exception fails.
- invariants of each operation on valid inputs (subset/order of NMS indices, IoU range and
  symmetry, merge sums, RBOX corners, agreement with torchvision and the reference).
"""

from __future__ import annotations

import math
import numbers
import os
import warnings
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import torch
import torchvision
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mlpresets import native
from mlpresets.detection import decode_text_boxes
from mlpresets.native import reference


def fast(examples: int) -> settings:
    # CI draws the same examples every run (a red CI then means a change broke something);
    # local runs draw new ones, and hypothesis replays any failure it has found before.
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=bool(os.environ.get("CI")),
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# ---------------------------------------------------------------- strategies

F32_MAX = float(np.finfo(np.float32).max)
SPECIAL_FINITE = [0.0, -0.0, 1.0, -1.0, 5e-324, -5e-324, 1e-310, 2.2250738585072014e-308,
                  1e-200, 65504.0, F32_MAX, -F32_MAX, 1e150, 1e300, -1e300, 1.7976931348623157e308]  # fmt: skip
SPECIAL = [*SPECIAL_FINITE, math.nan, math.inf, -math.inf]

ELEMENTS = {
    "signed": st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False),
    "positive": st.floats(1e-3, 1e3),
    "extreme": st.one_of(st.sampled_from(SPECIAL_FINITE), st.floats(0, 1e3)),
    "wild": st.one_of(st.sampled_from(SPECIAL), st.floats(allow_subnormal=True)),
}
DTYPES = ["float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool",
          "complex64", "object", "str"]  # fmt: skip
REAL_DTYPES = DTYPES[:8]


@st.composite
def shapes(draw: st.DrawFn, valid: tuple[int, ...]) -> tuple[int, ...]:
    """Mostly `valid`; else a neighbour of it (one size off, one dim more or less) or any shape
    of 0-3 dims with sizes 0-5."""
    kind = draw(st.sampled_from(["valid"] * 4 + ["near", "any"]))
    if kind == "valid":
        return valid
    if kind == "near" and valid:
        shape = list(valid)
        i = draw(st.integers(0, len(shape) - 1))
        change = draw(st.sampled_from(["+1", "-1", "drop", "add"]))
        if change == "drop":
            del shape[i]
        elif change == "add":
            shape.insert(i, draw(st.integers(0, 3)))
        else:
            shape[i] = max(0, shape[i] + int(change))
        return tuple(shape)
    return tuple(draw(st.lists(st.integers(0, 5), max_size=3)))


@st.composite
def arrays(
    draw: st.DrawFn,
    valid: tuple[int, ...],
    elements: str | None = None,
    dtypes: list[str] | None = None,
    forms: tuple[str, ...] = ("numpy", "numpy", "torch", "list", "fortran"),
) -> Any:
    """An input near `valid` shape, as a numpy array (C or Fortran order), list or tensor."""
    shape = draw(shapes(valid))
    size = math.prod(shape)
    kind = elements or draw(st.sampled_from(["signed", "positive", "extreme", "wild"]))
    values = draw(st.lists(ELEMENTS[kind], min_size=size, max_size=size))
    dtype = draw(st.sampled_from(dtypes or REAL_DTYPES * 3 + DTYPES))
    a = np.array(values, dtype=np.float64).reshape(shape)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = a.astype(str) if dtype == "str" else a.astype(dtype)
    form = draw(st.sampled_from(forms))
    if form == "torch" and dtype not in ("object", "str"):
        return torch.from_numpy(a.copy())
    if form == "list" and a.ndim > 0 and a.size > 0:
        return a.tolist()
    if form == "fortran":
        return np.asfortranarray(a)
    return a


thresholds = st.one_of(
    st.floats(-0.5, 1.5),
    st.sampled_from([0.0, 0.5, 1.0, -1.0, math.nan, math.inf, 1e300, 0, 1, True, None, "0.5"]),
    st.builds(np.float32, st.floats(0, 1, width=32)),
    st.builds(lambda x: torch.tensor(x), st.floats(0, 1)),
)


# ---------------------------------------------------------------- what the inputs should give


def view(x: Any) -> np.ndarray:
    """The array a caller means by `x`."""
    if isinstance(x, torch.Tensor):
        return x.numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(x)


def real_finite(x: Any, shape: tuple[int | None, ...]) -> bool:
    a = view(x)
    ok = a.dtype.kind in "iuf" and a.ndim == len(shape)
    ok = ok and all(w is None or w == s for w, s in zip(shape, a.shape, strict=True))
    with np.errstate(all="ignore"):
        return bool(ok and np.isfinite(a.astype(np.float64)).all())


def rows(x: Any) -> int:
    return view(x).shape[0]


def valid_threshold(t: Any) -> bool:
    if isinstance(t, torch.Tensor):
        t = t.item()
    return isinstance(t, numbers.Real) and not isinstance(t, bool) and math.isfinite(float(t))


def is_tensor_in(*xs: Any) -> bool:
    return any(isinstance(x, torch.Tensor) for x in xs)


def magnitude(*xs: Any) -> float:
    """The largest |value| among real inputs (0 if none)."""
    out = 0.0
    for x in xs:
        a = view(x)
        if a.dtype.kind in "iuf" and a.size:
            with np.errstate(all="ignore"):
                out = max(out, float(np.nanmax(np.abs(a.astype(np.float64)))))
    return out


def call(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, Exception | None]:
    """(result, None) or (None, the ValueError/TypeError); anything else propagates."""
    try:
        return fn(*args, **kwargs), None
    except (ValueError, TypeError) as e:
        assert str(e), f"{type(e).__name__} without a message"
        return None, e


def check_outcome(
    valid: bool, err: Exception | None, inputs: str, overflow_ok: bool = False
) -> bool:
    """True when there is a result to check."""
    if not valid:
        assert err is not None, f"invalid input accepted: {inputs}"
        return False
    if err is not None:
        too_large = isinstance(err, ValueError) and (
            "too large" in str(err) or "must lie within" in str(err)
        )
        assert overflow_ok and too_large, f"valid input refused ({err!r}): {inputs}"
        return False
    return True


def as_numpy(out: Any, tensor_in: bool) -> np.ndarray:
    if tensor_in:
        assert isinstance(out, torch.Tensor), f"tensor in, {type(out).__name__} out"
        return out.numpy()
    assert isinstance(out, np.ndarray), f"numpy in, {type(out).__name__} out"
    return out


def float64_of(x: Any) -> np.ndarray:
    return view(x).astype(np.float64)


def check_indices(keep: np.ndarray, scores: np.ndarray) -> None:
    """int64 (K,), a strictly unique subset of range(N), by non-increasing score."""
    assert keep.dtype == np.int64 and keep.ndim == 1
    assert ((keep >= 0) & (keep < len(scores))).all()
    assert len(np.unique(keep)) == len(keep)
    assert (np.diff(scores[keep]) <= 0).all(), "not sorted by decreasing score"


# ---------------------------------------------------------------- fuzz: every public function


@fast(250)
@given(data=st.data(), n=st.integers(0, 6), thr=thresholds)
def test_fuzz_nms(data: st.DataObject, n: int, thr: Any) -> None:
    boxes = data.draw(arrays((n, 4)))
    scores = data.draw(arrays((n,)))
    valid = real_finite(boxes, (None, 4)) and valid_threshold(thr)
    valid = valid and real_finite(scores, (rows(boxes),))
    keep, err = call(native.nms, boxes, scores, thr)
    if check_outcome(valid, err, f"nms({boxes!r}, {scores!r}, {thr!r})"):
        check_indices(as_numpy(keep, is_tensor_in(boxes, scores)), float64_of(scores))


@fast(250)
@given(data=st.data(), n=st.integers(0, 6), thr=thresholds)
def test_fuzz_batched_nms(data: st.DataObject, n: int, thr: Any) -> None:
    boxes = data.draw(arrays((n, 4)))
    scores = data.draw(arrays((n,)))
    classes = data.draw(
        arrays((n,), "signed", ["int64", "int32", "uint8", "bool", "float32", "object", "str"])
    )
    valid = real_finite(boxes, (None, 4)) and valid_threshold(thr)
    valid = valid and real_finite(scores, (rows(boxes),))
    c = view(classes)
    valid = valid and c.dtype.kind in "iub" and c.shape == (rows(boxes),)
    keep, err = call(native.batched_nms, boxes, scores, classes, thr)
    if check_outcome(valid, err, f"batched_nms({boxes!r}, {scores!r}, {classes!r}, {thr!r})"):
        check_indices(as_numpy(keep, is_tensor_in(boxes, scores, classes)), float64_of(scores))


def quad_rows(x: Any) -> int | None:
    """Rows of a valid (8,)/(N, 8) quad input (1 for (8,)), else None."""
    a = view(x)
    if real_finite(a, (8,)):
        return 1
    if real_finite(a, (None, 8)):
        return a.shape[0]
    return None


@fast(250)
@given(data=st.data(), n=st.integers(0, 4), m=st.sampled_from([None, 0, 1, 3]))
def test_fuzz_polygon_iou(data: st.DataObject, n: int, m: int | None) -> None:
    a = data.draw(st.one_of(arrays((8,)), arrays((n, 8))))
    b = data.draw(st.one_of(arrays((8,)), arrays((n if m is None else m, 8))))
    ra, rb = quad_rows(a), quad_rows(b)
    valid = ra is not None and rb is not None and (ra == rb or 1 in (ra, rb))
    iou, err = call(native.polygon_iou, a, b)
    if not check_outcome(valid, err, f"polygon_iou({a!r}, {b!r})", magnitude(a, b) > 1e100):
        return
    assert ra is not None and rb is not None
    if view(a).ndim == 1 and view(b).ndim == 1:
        assert isinstance(iou, float)
        values = np.array([iou])
    else:
        values = as_numpy(iou, is_tensor_in(a, b))
        assert values.dtype == np.float64
        assert values.shape == (0 if 0 in (ra, rb) else max(ra, rb),)
    assert ((values >= 0) & (values <= 1)).all(), values


@fast(250)
@given(data=st.data(), n=st.integers(0, 6), thr=thresholds)
def test_fuzz_locality_aware_nms(data: st.DataObject, n: int, thr: Any) -> None:
    quads = data.draw(arrays((n, 8)))
    scores = data.draw(arrays((n,), data.draw(st.sampled_from([None, "positive"]))))
    valid = real_finite(quads, (None, 8)) and valid_threshold(thr)
    valid = valid and real_finite(scores, (rows(quads),)) and bool((float64_of(scores) > 0).all())
    out, err = call(native.locality_aware_nms, quads, scores, thr)
    inputs = f"locality_aware_nms({quads!r}, {scores!r}, {thr!r})"
    if not check_outcome(valid, err, inputs, magnitude(quads, scores) > 1e100):
        return
    tensor_in = is_tensor_in(quads, scores)
    assert isinstance(out, tuple) and len(out) == 2
    q, s = as_numpy(out[0], tensor_in), as_numpy(out[1], tensor_in)
    k = len(s)
    assert q.shape == (k, 8) and s.shape == (k,) and k <= rows(quads)
    assert q.dtype in (np.float32, np.float64) and s.dtype in (np.float32, np.float64)
    assert np.isfinite(q).all() and np.isfinite(s).all(), f"non-finite result of {inputs}"
    assert (np.diff(s) <= 0).all()


@fast(250)
@given(data=st.data(), n=st.integers(0, 6))
def test_fuzz_restore_rbox(data: st.DataObject, n: int) -> None:
    origins = data.draw(arrays((n, 2)))
    geometry = data.draw(arrays((n, 5), data.draw(st.sampled_from([None, "positive"]))))
    g = view(geometry)
    valid = real_finite(origins, (None, 2)) and real_finite(g, (rows(origins), 5))
    valid = valid and bool((g[:, :4].astype(np.float64) >= 0).all())
    quads, err = call(native.restore_rbox, origins, geometry)
    inputs = f"restore_rbox({origins!r}, {geometry!r})"
    if not check_outcome(valid, err, inputs, magnitude(origins, geometry) > 1e100):
        return
    q = as_numpy(quads, is_tensor_in(origins, geometry))
    assert q.shape == (rows(origins), 8)
    kinds = {str(view(x).dtype) for x in (origins, geometry)}
    if kinds == {"float32"}:
        assert q.dtype == np.float32, q.dtype
    elif kinds & {"float64", "int64", "int32", "int16", "int8", "uint8"}:
        assert q.dtype == np.float64, q.dtype
    assert np.isfinite(q).all(), f"non-finite result of {inputs}: {q}"


@st.composite
def text_maps(draw: st.DrawFn) -> tuple[Any, Any]:
    h, w = draw(st.integers(0, 4)), draw(st.integers(0, 4))
    score_shape = draw(st.sampled_from([(h, w), (1, h, w)]))
    score = draw(arrays(score_shape, draw(st.sampled_from([None, "positive"]))))
    geo = draw(arrays((5, h, w), draw(st.sampled_from([None, "positive"]))))
    return score, geo


def valid_decode(score: Any, geo: Any, s_t: Any, n_t: Any, b_t: Any, stride: Any) -> bool:
    s, g = view(score), view(geo)
    if s.ndim == 3 and s.shape[0] == 1:
        s, score = s[0], score[0]
    ok = real_finite(s, (None, None)) and real_finite(g, (5, *s.shape))
    ok = ok and all(valid_threshold(t) for t in (s_t, n_t, b_t))
    ok = ok and isinstance(stride, int) and not isinstance(stride, bool) and 1 <= stride <= 2**20
    if not ok:
        return False
    # scores above score_thresh weight the merge (so it must be >= 0); no negative distance
    # score_map holds probabilities
    ok = bool(((s >= 0) & (s <= 1)).all()) and bool((g[:4] >= 0).all())
    return ok and float(s_t.item() if hasattr(s_t, "item") else s_t) >= 0


strides = st.one_of(st.integers(1, 8), st.sampled_from([0, -4, True, 4.0, "4", 2**62]))


@fast(200)
@given(maps=text_maps(), s_t=thresholds, n_t=thresholds, b_t=thresholds, stride=strides)
def test_fuzz_decode_text_boxes(
    maps: tuple[Any, Any], s_t: Any, n_t: Any, b_t: Any, stride: Any
) -> None:
    score, geo = maps
    valid = valid_decode(score, geo, s_t, n_t, b_t, stride)
    out, err = call(decode_text_boxes, score, geo, s_t, n_t, b_t, stride=stride)
    inputs = f"decode_text_boxes({score!r}, {geo!r}, {s_t!r}, {n_t!r}, {b_t!r}, stride={stride})"
    huge = valid and (magnitude(score, geo) > 1e100 or stride > 10**100)
    if not check_outcome(valid, err, inputs, huge):
        return
    quads, scores = out
    assert isinstance(quads, np.ndarray) and isinstance(scores, np.ndarray)
    assert quads.dtype == scores.dtype == np.float64
    assert quads.shape == (len(scores), 8)
    assert np.isfinite(quads).all() and np.isfinite(scores).all()
    assert (np.diff(scores) <= 0).all() and (scores > float(b_t)).all()


def test_decode_with_a_huge_stride_is_refused() -> None:
    with pytest.raises(
        ValueError, match=r"^stride must be an integer from 1 to 2\*\*20, got 10{400}$"
    ):
        decode_text_boxes(np.ones((2, 2)), np.ones((5, 2, 2)), stride=10**400)


DECODE_ARGS = ("score_map", "geo_map", "score_thresh", "nms_thresh", "box_thresh", "stride")


@fast(150)
@given(maps=text_maps(), s_t=thresholds, n_t=thresholds, stride=strides)
@example(maps=(np.ones((2, 2)), np.ones((5, 2, 2))), s_t=0.5, n_t="x", stride=4)
@example(maps=(np.ones((2, 2)), -np.ones((5, 2, 2))), s_t=0.5, n_t=0.2, stride=4)
@example(maps=(np.zeros((2, 2)), np.ones((5, 2, 2))), s_t=-1.0, n_t=0.2, stride=4)
def test_decode_errors_name_decode_arguments(
    maps: tuple[Any, Any], s_t: Any, n_t: Any, stride: Any
) -> None:
    """A refused call says which of decode_text_boxes' own arguments is wrong."""
    score, geo = maps
    _, err = call(decode_text_boxes, score, geo, s_t, n_t, stride=stride)
    if err is not None:
        assert str(err).startswith(DECODE_ARGS), f"message names no argument: {err}"


@fast(100)
@given(maps=text_maps(), n_t=thresholds)
@example(maps=(np.ones((2, 2)), np.ones((5, 2, 2))), n_t=math.nan)
@example(maps=(np.ones((2, 2)), np.ones((5, 2, 2))), n_t="x")
def test_decode_backends_agree(maps: tuple[Any, Any], n_t: Any) -> None:
    """backend="reference" refuses what "native" refuses and returns the same boxes."""
    score, geo = maps
    out, err = call(decode_text_boxes, score, geo, 0.5, n_t)
    ref, ref_err = call(decode_text_boxes, score, geo, 0.5, n_t, backend="reference")
    assert (err is None) == (ref_err is None), f"native: {err!r}, reference: {ref_err!r}"
    if err is None:
        np.testing.assert_allclose(out[0], ref[0], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(out[1], ref[1], rtol=1e-9, atol=1e-9)


ODD_THRESHOLDS = [10**400, -(10**400), Fraction(10**400), Fraction(1, 3), np.longdouble("1e400"),
                  np.float16(0.5), np.int8(0), np.bool_(True), np.array(0.5), np.array([0.5]),
                  torch.tensor([0.5, 0.5]), torch.tensor(True), torch.tensor(1 + 1j), 0.5j, [0.5],
                  b"0.5", object()]  # fmt: skip


@pytest.mark.parametrize("fn", ["nms", "batched_nms", "locality_aware_nms", "decode"])
def test_odd_thresholds_give_a_result_or_value_or_type_error(fn: str) -> None:
    calls = {
        "nms": lambda t: native.nms(np.zeros((1, 4)), np.ones(1), t),
        "batched_nms": lambda t: native.batched_nms(np.zeros((1, 4)), np.ones(1), [0], t),
        "locality_aware_nms": lambda t: native.locality_aware_nms(np.ones((1, 8)), [1.0], t),
        "decode": lambda t: decode_text_boxes(np.ones((2, 2)), np.ones((5, 2, 2)), t),
    }
    wrong = []
    for thr in ODD_THRESHOLDS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                call(calls[fn], thr)
        except Exception as e:  # anything but ValueError/TypeError
            wrong.append(f"{type(thr).__name__} {str(thr)[:20]}: {type(e).__name__}: {e}")
    assert not wrong, "\n".join(wrong)


# ---------------------------------------------------------------- invariants on valid inputs

coords = st.one_of(st.floats(-100, 1000, width=32), st.sampled_from([0.0, 1.0, 10.0, 100.0]))


@st.composite
def box_sets(draw: st.DrawFn, dtype: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (some inverted or empty, many overlapping) and scores with ties."""
    n = draw(st.integers(0, 30))
    dtype = dtype or draw(st.sampled_from([np.float32, np.float64]))
    xy = np.array(draw(st.lists(coords, min_size=2 * n, max_size=2 * n))).reshape(n, 2)
    wh = np.array(draw(st.lists(st.floats(-5, 300), min_size=2 * n, max_size=2 * n)))
    boxes = np.concatenate([xy, xy + wh.reshape(n, 2)], axis=1).astype(dtype)
    scores = np.array(
        draw(st.lists(st.sampled_from([0.1, 0.5, 0.9]) | st.floats(-1, 1), min_size=n, max_size=n))
    )
    return boxes, scores.astype(draw(st.sampled_from([np.float32, np.float64])))


@fast(200)
@given(bs=box_sets(), thr=st.floats(-0.1, 1.0))
def test_nms_subset_unique_sorted_and_identical_to_torchvision(
    bs: tuple[np.ndarray, np.ndarray], thr: float
) -> None:
    boxes, scores = bs
    keep = native.nms(boxes, scores, thr)
    check_indices(keep, scores.astype(np.float64))
    np.testing.assert_array_equal(keep, reference.nms(boxes, scores, thr))
    same = scores.astype(boxes.dtype)  # torchvision wants the boxes' dtype for both
    tv = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(same), thr)
    np.testing.assert_array_equal(native.nms(boxes, same, thr), tv.numpy())


@fast(150)
@given(
    bs=box_sets(),
    classes=st.lists(st.integers(-3, 3), min_size=30, max_size=30),
    thr=st.floats(0, 1),
)
def test_batched_nms_is_nms_within_each_class(
    bs: tuple[np.ndarray, np.ndarray], classes: list[int], thr: float
) -> None:
    boxes, scores = bs
    c = np.array(classes[: len(boxes)], dtype=np.int64)
    keep = native.batched_nms(boxes, scores, c, thr)
    check_indices(keep, scores.astype(np.float64))
    np.testing.assert_array_equal(keep, reference.batched_nms(boxes, scores, c, thr))
    for k in np.unique(c):  # each class's kept boxes are exactly nms of that class alone
        rows_k = np.flatnonzero(c == k)
        alone = rows_k[native.nms(boxes[rows_k], scores[rows_k], thr)]
        np.testing.assert_array_equal(np.sort(keep[c[keep] == k]), np.sort(alone))


@st.composite
def convex_quads(draw: st.DrawFn, scale: st.SearchStrategy[float] | None = None) -> np.ndarray:
    """A convex quad: 4 points on an ellipse at sorted angles at least 0.3 rad apart, either
    orientation, any start vertex, anywhere, at any scale in `scale`."""
    gaps = np.array(draw(st.lists(st.floats(0.3, 3.0), min_size=4, max_size=4)))
    angles = np.cumsum(gaps / gaps.sum() * 2 * np.pi) + draw(st.floats(0, 2 * np.pi))
    rx, ry = draw(st.floats(0.2, 5)), draw(st.floats(0.2, 5))
    cx, cy = draw(st.floats(-10, 10)), draw(st.floats(-10, 10))
    s = draw(st.floats(1e-3, 1e3) if scale is None else scale)
    pts = np.stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)], axis=1) * s
    if draw(st.booleans()):
        pts = pts[::-1]
    return np.roll(pts, draw(st.integers(0, 3)), axis=0).reshape(8)


any_quads = st.one_of(
    convex_quads(),
    st.lists(st.floats(-20, 20), min_size=8, max_size=8).map(np.array),  # any order, bow-ties
    st.lists(st.sampled_from([0.0, 1.0, 2.0]), min_size=8, max_size=8).map(np.array),  # degenerate
)


@fast(300)
@given(a=any_quads, b=any_quads)
@example(  # a triangle with a near-duplicate vertex: 0.000625 one way, 0.00125 the other
    a=np.array([-10.0, -10, 10, -10, 10, 10, -10, 10]),
    b=np.array([1e-17, 1.0, 1.0, 2.0, 0.0, 0.0, 0.0, 1.0]),
)
def test_polygon_iou_in_unit_interval_and_symmetric(a: np.ndarray, b: np.ndarray) -> None:
    ab, ba = native.polygon_iou(a, b), native.polygon_iou(b, a)
    assert 0.0 <= ab <= 1.0
    assert abs(ab - ba) <= 1e-9, (ab, ba)
    assert abs(ab - float(reference.polygon_iou(a[None], b[None])[0])) <= 1e-9
    batch = native.polygon_iou(np.stack([a, b]), np.stack([b, a]))
    assert batch.shape == (2,) and abs(batch[0] - ab) <= 1e-12


@fast(300)
@given(q=convex_quads(st.floats(1e-100, 1e100)))
def test_polygon_iou_of_a_convex_quad_with_itself_is_1(q: np.ndarray) -> None:
    assert abs(native.polygon_iou(q, q) - 1.0) <= 1e-9
    reordered = np.roll(q.reshape(4, 2)[::-1], 1, axis=0).reshape(8)  # other way round
    assert abs(native.polygon_iou(q, reordered) - 1.0) <= 1e-9


@fast(50)
@given(q=convex_quads(st.sampled_from([1e-300, 1e-200, 1e-160, 1e140, 1e160, 1e200, 1e300])))
def test_polygon_iou_at_extreme_scales_is_1_or_refused(q: np.ndarray) -> None:
    """A non-degenerate quad far from unit scale: IoU with itself 1, or a ValueError; never a
    silent 0 (areas that underflow or overflow float64)."""
    iou, err = call(native.polygon_iou, q, q)
    assert err is not None or abs(iou - 1.0) <= 1e-9, f"polygon_iou(q, q) = {iou} for q = {q!r}"


score_values = st.one_of(
    st.floats(0.01, 1.0),
    st.sampled_from([1.0, 0.5, 1e-300, 5e-324, 1e-310, 1e200, F32_MAX, 1e308]),
)


@st.composite
def text_candidates(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Row-ordered candidate quads: jittered copies of a few rectangles, as a text map gives."""
    n = draw(st.integers(0, 25))
    base = np.array(draw(st.lists(convex_quads(st.just(10.0)), min_size=3, max_size=3)))
    owner = np.sort(np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), int))
    jitter = np.array(draw(st.lists(st.floats(-3, 3), min_size=8 * n, max_size=8 * n)))
    quads = base[owner] + jitter.reshape(n, 8)
    scores = np.array(draw(st.lists(score_values, min_size=n, max_size=n)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    scores = np.clip(
        scores, np.finfo(dtype).smallest_subnormal, 1e30 if dtype == np.float32 else 1e200
    )
    return quads.astype(dtype), scores.astype(dtype)


@fast(200)
@given(cand=text_candidates(), thr=st.floats(0, 0.9))
def test_locality_aware_nms_sorted_sums_bounded_and_no_overlap(
    cand: tuple[np.ndarray, np.ndarray], thr: float
) -> None:
    quads, scores = cand
    q, s = native.locality_aware_nms(quads, scores, thr)
    assert q.shape == (len(s), 8) and len(s) <= len(scores)
    assert q.dtype == quads.dtype and s.dtype == scores.dtype
    assert np.isfinite(q).all() and np.isfinite(s).all(), (q, s)
    assert (np.diff(s) <= 0).all()
    total = float(scores.astype(np.float64).sum())
    assert float(s.astype(np.float64).sum()) <= total * (1 + 1e-6)
    if len(scores):
        assert len(s) >= 1
    tol = 1e-9 if q.dtype == np.float64 else 1e-4  # float32 output: rounded coordinates
    for i in range(len(s)):  # the NMS pass leaves no pair above the threshold
        for j in range(i + 1, len(s)):
            assert native.polygon_iou(q[i].astype(np.float64), q[j].astype(np.float64)) <= thr + tol


@fast(150)
@given(q=convex_quads(), score=score_values, thr=st.floats(0, 0.9))
@example(q=np.array([0.0, 0, 0.3, 0, 0.3, 0.3, 0, 0.3]), score=5e-324, thr=0.5)
def test_locality_aware_nms_of_one_quad_returns_it(q: np.ndarray, score: float, thr: float) -> None:
    out_q, out_s = native.locality_aware_nms(q[None], [score], thr)
    np.testing.assert_allclose(out_q, q[None], rtol=1e-12, atol=1e-12)
    assert out_s.tolist() == [score]


@fast(100)
@given(
    q=convex_quads(),
    score=st.floats(float(np.float32(1e30)), F32_MAX, width=32),
    copies=st.integers(2, 4),
)
@example(q=np.array([0.0, 0, 3, 0, 3, 3, 0, 3]), score=F32_MAX, copies=2)
def test_locality_aware_nms_float32_scores_do_not_overflow(
    q: np.ndarray, score: float, copies: int
) -> None:
    """Merged float32 scores that exceed float32: a ValueError or a finite result."""
    quads = np.repeat(q[None], copies, axis=0).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out, err = call(native.locality_aware_nms, quads, np.full(copies, score, np.float32), 0.5)
    if err is None:
        assert np.isfinite(out[1]).all(), f"float32 scores {score} x{copies} merged to {out[1]}"


geometry_rows = st.tuples(*[st.floats(0, 500)] * 4, st.floats(-10, 10))


@fast(200)
@given(
    origins=st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(-1e6, 1e6)), max_size=10),
    angles=st.lists(st.floats(-1e6, 1e6), min_size=10, max_size=10),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_restore_rbox_of_zero_distances_is_the_origin_4_times(
    origins: list[tuple[float, float]], angles: list[float], dtype: type
) -> None:
    o = np.array(origins, dtype=dtype).reshape(-1, 2)
    g = np.zeros((len(o), 5), dtype=dtype)
    g[:, 4] = angles[: len(o)]
    q = native.restore_rbox(o, g)
    assert q.dtype == dtype and q.shape == (len(o), 8)
    np.testing.assert_array_equal(q, np.tile(o, 4))


@fast(200)
@given(geometry=st.lists(geometry_rows, max_size=10))
def test_restore_rbox_gives_the_rectangle_of_the_distances(geometry: list[tuple]) -> None:
    g = np.array(geometry, dtype=np.float64).reshape(-1, 5)
    o = np.arange(2 * len(g), dtype=np.float64).reshape(-1, 2)
    q = native.restore_rbox(o, g).reshape(-1, 4, 2)
    width, height = g[:, 1] + g[:, 3], g[:, 0] + g[:, 2]

    def side(i: int, j: int) -> np.ndarray:
        return np.hypot(*(q[:, j] - q[:, i]).T)

    for length, want in ((side(0, 1), width), (side(1, 2), height), (side(3, 2), width)):
        assert (np.abs(length - want) <= 1e-9 * (1 + want)).all(), (length, want)
    np.testing.assert_allclose(q.reshape(-1, 8), reference.restore_rbox(o, g), atol=1e-9)


@fast(50)
@given(
    x=st.floats(float(np.float32(1e37)), F32_MAX, width=32),
    d=st.floats(float(np.float32(1e37)), F32_MAX, width=32),
)
@example(x=F32_MAX, d=F32_MAX)
def test_restore_rbox_float32_result_is_finite_or_refused(x: float, d: float) -> None:
    o = np.array([[x, 0.0]], np.float32)
    g = np.array([[0.0, d, 0.0, 0.0, 0.0]], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q, err = call(native.restore_rbox, o, g)
    if err is None:
        assert np.isfinite(q).all(), f"restore_rbox({o!r}, {g!r}) = {q!r}"


# ---------------------------------------------------------------- torch tensors


@fast(60)
@given(
    bs=box_sets(np.float32),
    tensor_args=st.lists(st.booleans(), min_size=3, max_size=3),
    dtype=st.sampled_from([torch.float32, torch.float64, torch.float16, torch.int64]),
)
def test_torch_tensors_give_the_numpy_results_as_tensors(
    bs: tuple[np.ndarray, np.ndarray], tensor_args: list[bool], dtype: torch.dtype
) -> None:
    boxes, scores = bs
    tb = torch.from_numpy(boxes).to(dtype)
    ts = torch.from_numpy(scores).to(dtype)
    classes = np.arange(len(boxes)) % 3
    args = [tb if tensor_args[0] else tb.numpy(), ts if tensor_args[1] else ts.numpy()]
    c = torch.from_numpy(classes) if tensor_args[2] else classes
    want_tensor = tensor_args[0] or tensor_args[1]

    keep = native.nms(*args, 0.5)
    assert isinstance(keep, torch.Tensor) == want_tensor
    np.testing.assert_array_equal(np.asarray(keep), native.nms(tb.numpy(), ts.numpy(), 0.5))
    keep = native.batched_nms(*args, c, 0.5)
    assert isinstance(keep, torch.Tensor) == (want_tensor or tensor_args[2])
    np.testing.assert_array_equal(
        np.asarray(keep), native.batched_nms(tb.numpy(), ts.numpy(), classes, 0.5)
    )

    quads = torch.from_numpy(
        reference.restore_rbox(
            boxes[:, :2].astype(np.float64), np.abs(boxes[:, [0, 1, 2, 3, 0]]).astype(np.float64)
        )
    ).to(dtype)
    rbox = native.restore_rbox(
        torch.from_numpy(boxes[:, :2]).to(dtype),
        torch.from_numpy(np.abs(boxes[:, [0, 1, 2, 3, 0]])).to(dtype),
    )
    assert isinstance(rbox, torch.Tensor) and rbox.shape == (len(boxes), 8)
    iou = native.polygon_iou(quads, quads.numpy())
    assert (
        isinstance(iou, torch.Tensor) and iou.dtype == torch.float64 and iou.shape == (len(boxes),)
    )
    positive = torch.rand(len(boxes), dtype=torch.float64) + 0.1
    q, s = native.locality_aware_nms(
        quads, positive.to(dtype) if dtype.is_floating_point else positive, 0.3
    )
    assert isinstance(q, torch.Tensor) and isinstance(s, torch.Tensor) and q.shape == (len(s), 8)


def test_non_cpu_and_odd_tensors_are_refused_with_type_error() -> None:
    meta = torch.zeros(2, 4, device="meta")
    with pytest.raises(TypeError, match=r"^boxes must be a CPU tensor, got one on meta$"):
        native.nms(meta, torch.ones(2), 0.5)
    for bad in (
        torch.zeros(2, 4, dtype=torch.bool),
        torch.zeros(2, 4, dtype=torch.complex64),
    ):
        with pytest.raises(TypeError):
            native.nms(bad, torch.ones(2), 0.5)
    sparse = torch.zeros(2, 4).to_sparse()
    with pytest.raises((TypeError, ValueError)):
        native.nms(sparse, torch.ones(2), 0.5)
