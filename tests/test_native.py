"""mlpresets.native against torchvision (nms, batched_nms), shapely and the numpy reference
(polygon geometry, locality-aware NMS, RBOX), plus the input checks' exact messages."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import shapely
import torch
import torchvision

from mlpresets import native
from mlpresets.native import reference

RNG_SEED = 1234


def random_boxes(rng: np.random.Generator, n: int, dtype: type) -> np.ndarray:
    """Boxes with ties and degenerate cases mixed in: integer-grid corners (exact IoUs that sit
    on thresholds such as 0.5), zero width/height, inverted corners and exact duplicates."""
    if rng.random() < 0.5:
        xy = rng.integers(0, 12, size=(n, 2)).astype(dtype)
        wh = rng.integers(0, 8, size=(n, 2)).astype(dtype)
    else:
        xy = (rng.random((n, 2)) * 50).astype(dtype)
        wh = (rng.random((n, 2)) * 30).astype(dtype)
    boxes = np.concatenate([xy, xy + wh], axis=1)  # (n, 4)
    if n and rng.random() < 0.3:  # a few inverted boxes
        flip = rng.random(n) < 0.2
        boxes[flip] = boxes[flip][:, [2, 3, 0, 1]]
    if n > 1 and rng.random() < 0.3:  # exact duplicates
        boxes[rng.integers(0, n, n // 3)] = boxes[0]
    return boxes


def random_scores(rng: np.random.Generator, n: int, dtype: type) -> np.ndarray:
    if rng.random() < 0.5:  # many ties
        return rng.integers(0, 4, n).astype(dtype) / 4
    return rng.random(n).astype(dtype)


THRESHOLDS = [0.0, 0.3, 0.5, 0.7, 1.0, -0.1]  # < 0: every pair counts, even apart


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nms_identical_to_torchvision(dtype: type) -> None:
    rng = np.random.default_rng(RNG_SEED)
    for case in range(1500):
        # up to 31 boxes: the pairwise loop; 32 and more: the x1-window search
        n = int(rng.integers(0, 60 if case % 2 else 250))
        boxes, scores = random_boxes(rng, n, dtype), random_scores(rng, n, dtype)
        thr = THRESHOLDS[case % len(THRESHOLDS)]
        expected = torchvision.ops.nms(torch.from_numpy(boxes), torch.from_numpy(scores), thr)
        got = native.nms(boxes, scores, thr)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, expected.numpy(), err_msg=f"case {case}")
        np.testing.assert_array_equal(reference.nms(boxes, scores, thr), got)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batched_nms_identical_to_torchvision(dtype: type) -> None:
    rng = np.random.default_rng(RNG_SEED + 1)
    for case in range(1500):
        n = int(rng.integers(0, 60 if case % 2 else 250))
        boxes, scores = random_boxes(rng, n, dtype), random_scores(rng, n, dtype)
        classes = rng.integers(0, 4, n)
        thr = THRESHOLDS[case % len(THRESHOLDS)]
        args = (torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), thr)
        got = native.batched_nms(boxes, scores, classes, thr)
        if thr >= 0:  # below 0 torchvision's offset trick lets classes suppress each other
            np.testing.assert_array_equal(got, torchvision.ops.batched_nms(*args).numpy())
        # torchvision's path for > 1000 boxes: per class, then an unstable sort by score, so
        # equal scores may come in any order there; the same boxes, the same score sequence.
        vanilla = torchvision.ops.boxes._batched_nms_vanilla(*args).numpy()
        assert sorted(got.tolist()) == sorted(vanilla.tolist())
        np.testing.assert_array_equal(scores[got], scores[vanilla])
        np.testing.assert_array_equal(reference.batched_nms(boxes, scores, classes, thr), got)


def test_batched_nms_on_many_boxes_takes_torchvisions_per_class_path() -> None:
    rng = np.random.default_rng(RNG_SEED + 2)
    boxes = random_boxes(rng, 3000, np.float32)
    scores = rng.permutation(3000).astype(np.float32) / 3000  # no ties
    classes = rng.integers(0, 10, 3000)
    expected = torchvision.ops.batched_nms(
        torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), 0.5
    )
    np.testing.assert_array_equal(native.batched_nms(boxes, scores, classes, 0.5), expected)


def test_nms_hand_made_cases() -> None:
    boxes = np.array(
        [
            [0, 0, 10, 10],  # 0: best
            [0, 0, 10, 10],  # 1: identical to 0, equal score: after 0, suppressed
            [5, 0, 15, 10],  # 2: IoU with 0 is exactly 1/3
            [20, 20, 20, 30],  # 3: zero width: IoU 0 with all, NaN with itself, always kept
            [40, 40, 50, 50],  # 4: disjoint
        ],
        dtype=np.float32,
    )
    scores = np.array([0.9, 0.9, 0.8, 0.7, 0.1], dtype=np.float32)
    assert native.nms(boxes, scores, 0.5).tolist() == [0, 2, 3, 4]
    assert native.nms(boxes, scores, 0.2).tolist() == [0, 3, 4]
    assert native.nms(boxes, scores, 1.0).tolist() == [0, 1, 2, 3, 4]  # IoU is never > 1


def test_torch_tensors_in_torch_tensors_out() -> None:
    boxes = torch.tensor([[0.0, 0, 10, 10], [1, 1, 11, 11]], requires_grad=True)
    scores = torch.tensor([0.5, 0.9])
    keep = native.nms(boxes, scores, 0.5)
    assert isinstance(keep, torch.Tensor) and keep.dtype == torch.int64
    assert keep.tolist() == [1]
    quads = native.restore_rbox(torch.tensor([[4.0, 8.0]]), torch.tensor([[1.0, 2, 3, 4, 0]]))
    assert isinstance(quads, torch.Tensor)
    assert quads.tolist() == [[0.0, 7.0, 6.0, 7.0, 6.0, 11.0, 0.0, 11.0]]


def test_non_contiguous_and_list_inputs_work() -> None:
    rng = np.random.default_rng(RNG_SEED + 3)
    wide = random_boxes(rng, 200, np.float32).repeat(2, axis=1)  # (200, 8): every column twice
    boxes = wide[:, ::2]  # (200, 4), strided
    scores = random_scores(rng, 400, np.float32)[::2]
    assert not boxes.flags.c_contiguous
    expected = native.nms(np.ascontiguousarray(boxes), np.ascontiguousarray(scores), 0.5)
    np.testing.assert_array_equal(native.nms(boxes, scores, 0.5), expected)
    assert native.nms(boxes.tolist(), scores.tolist(), 0.5).tolist() == expected.tolist()


def test_empty_inputs_give_empty_outputs() -> None:
    empty4, empty = np.zeros((0, 4)), np.zeros(0)
    assert native.nms(empty4, empty, 0.5).shape == (0,)
    assert native.batched_nms(empty4, empty, np.zeros(0, dtype=np.int64), 0.5).shape == (0,)
    assert native.polygon_iou(np.zeros((0, 8)), np.zeros((0, 8))).shape == (0,)
    quads, scores = native.locality_aware_nms(np.zeros((0, 8)), empty, 0.5)
    assert quads.shape == (0, 8) and scores.shape == (0,)
    assert native.restore_rbox(np.zeros((0, 2)), np.zeros((0, 5))).shape == (0, 8)


# ---- quadrilaterals ------------------------------------------------------------------------


def rect(cx: float, cy: float, w: float, h: float, degrees: float = 0.0) -> np.ndarray:
    """A rotated rectangle as 8 coordinates (TL, TR, BR, BL before rotation)."""
    t = math.radians(degrees)
    c, s = math.cos(t), math.sin(t)
    corners = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    return np.array([v for a, d in corners for v in (cx + a * c - d * s, cy + a * s + d * c)])


def shapely_iou(a: np.ndarray, b: np.ndarray) -> float:
    pa, pb = shapely.Polygon(a.reshape(4, 2)), shapely.Polygon(b.reshape(4, 2))
    union = pa.union(pb).area
    return pa.intersection(pb).area / union if union > 0 else 0.0


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (rect(0, 0, 4, 2), rect(0, 0, 4, 2), 1.0),  # identical
        (rect(0, 0, 4, 2), rect(10, 0, 4, 2), 0.0),  # disjoint
        (rect(0, 0, 4, 2), rect(4, 0, 4, 2), 0.0),  # touching along an edge
        (rect(0, 0, 4, 4), rect(0, 0, 2, 2), 0.25),  # nested
        (rect(0, 0, 4, 2), rect(1, 0, 4, 2), 6 / 10),  # shifted by a quarter
        (rect(0, 0, 4, 4), rect(0, 0, 4, 4, 90), 1.0),  # a square turned 90 degrees
        (rect(0, 0, 4, 2), rect(0, 0, 4, 2, 90), 4 / 12),  # a cross
        (rect(0, 0, 2, 2), rect(0, 0, 2, 2, 45), 1 / math.sqrt(2)),  # a regular octagon
    ],
)
def test_polygon_iou_hand_made(a: np.ndarray, b: np.ndarray, expected: float) -> None:
    assert native.polygon_iou(a, b) == pytest.approx(expected, abs=1e-12)
    assert native.polygon_iou(b, a) == pytest.approx(expected, abs=1e-12)
    assert reference.quad_iou(a, b) == pytest.approx(expected, abs=1e-12)
    assert shapely_iou(a, b) == pytest.approx(expected, abs=1e-9)


def test_polygon_iou_either_orientation_and_start_vertex() -> None:
    a, b = rect(0, 0, 4, 2, 20), rect(1, 0.5, 3, 3, -35)
    expected = shapely_iou(a, b)
    clockwise = a.reshape(4, 2)[::-1].reshape(8)
    rolled = np.roll(b, 2)
    assert native.polygon_iou(clockwise, rolled) == pytest.approx(expected, abs=1e-12)


def random_quads(rng: np.random.Generator, n: int) -> np.ndarray:
    """Rotated rectangles, general convex quads and simple non-convex quads (a dart)."""
    out = []
    for _ in range(n):
        kind = rng.integers(0, 3)
        cx, cy = rng.random(2) * 10
        if kind == 0:
            out.append(rect(cx, cy, *(rng.random(2) * 6 + 0.1), degrees=rng.random() * 360))
        else:  # four points around the centre, gaps under 180 degrees: convex ...
            angles = np.arange(4) * math.pi / 2 + rng.uniform(-0.6, 0.6, 4) + rng.random() * 6
            radii = rng.random(4) * 4 + 0.5
            if kind == 2:  # ... or one pulled inside the others: a dart
                radii[0] = 0.05
            out.append(
                np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1).ravel()
            )
    return np.array(out)


def test_polygon_iou_matches_shapely_and_the_reference_on_random_quads() -> None:
    rng = np.random.default_rng(RNG_SEED + 4)
    a, b = random_quads(rng, 3000), random_quads(rng, 3000)
    got = native.polygon_iou(a, b)
    np.testing.assert_allclose(got, reference.polygon_iou(a, b), atol=1e-9)
    expected = [shapely_iou(qa, qb) for qa, qb in zip(a, b, strict=True)]
    np.testing.assert_allclose(got, expected, atol=1e-9)
    assert (got > 0).mean() > 0.2  # the cases really overlap


def test_polygon_iou_broadcasts_one_quad_against_many() -> None:
    rng = np.random.default_rng(RNG_SEED + 5)
    many = random_quads(rng, 50)
    got = native.polygon_iou(many[7], many)
    assert got.shape == (50,) and got[7] == pytest.approx(1.0)
    np.testing.assert_allclose(got, native.polygon_iou(np.tile(many[7], (50, 1)), many))


def test_polygon_iou_bow_tie_and_degenerate_quads() -> None:
    square = np.array([0, 0, 2, 0, 2, 2, 0, 2], dtype=float)
    bow_tie = np.array([0, 0, 2, 2, 2, 0, 0, 2], dtype=float)  # edges 0-1 and 2-3 cross
    assert native.polygon_iou(bow_tie, square) == pytest.approx(1.0)
    line = np.array([0, 0, 1, 1, 2, 2, 3, 3], dtype=float)  # collinear: zero area
    point = np.zeros(8)
    assert native.polygon_iou(line, square) == 0.0
    assert native.polygon_iou(point, point) == 0.0


# ---- locality-aware NMS ----------------------------------------------------------------------


def test_locality_aware_nms_merges_by_score_weighted_mean() -> None:
    a, b = rect(10, 10, 8, 4), rect(11, 10, 8, 4)  # IoU 7/9
    far = rect(50, 50, 8, 4)
    quads, scores = native.locality_aware_nms(np.stack([a, b, far]), [1.0, 3.0, 0.5], 0.5)
    np.testing.assert_allclose(quads, np.stack([(1 * a + 3 * b) / 4, far]))
    np.testing.assert_allclose(scores, [4.0, 0.5])


def test_locality_aware_nms_merges_only_consecutive_rows() -> None:
    a, b = rect(10, 10, 8, 4), rect(50, 50, 8, 4)
    quads, scores = native.locality_aware_nms(np.stack([a, b, a]), [1.0, 2.0, 1.5], 0.5)
    # a, b, a: the second a does not merge into the first (b lies between them); the NMS
    # pass then takes b (2.0), the second a (1.5), and drops the first a (1.0) under it.
    np.testing.assert_allclose(quads, np.stack([b, a]))
    np.testing.assert_allclose(scores, [2.0, 1.5])


def test_locality_aware_nms_matches_the_reference_on_random_rows() -> None:
    rng = np.random.default_rng(RNG_SEED + 6)
    for case in range(60):
        # text-line-like candidates: jittered copies of a few rectangles, in runs
        base = [rect(*(rng.random(2) * 60), 12, 4, rng.random() * 90) for _ in range(4)]
        rows = [
            base[rng.integers(0, 4)] + rng.normal(0, 0.7, 8)
            for _ in range(int(rng.integers(0, 120)))
        ]
        quads = np.array(rows).reshape(-1, 8)
        scores = rng.random(len(quads)) + 0.01
        thr = [0.2, 0.5, 0.8][case % 3]
        got_q, got_s = native.locality_aware_nms(quads, scores, thr)
        ref_q, ref_s = reference.locality_aware_nms(quads, scores, thr)
        assert got_q.shape == ref_q.shape, f"case {case}"
        np.testing.assert_allclose(got_q, ref_q, atol=1e-4)
        np.testing.assert_allclose(got_s, ref_s, atol=1e-4)


# ---- RBOX ------------------------------------------------------------------------------------


@pytest.mark.parametrize("degrees", [0, 45, 90, -30])
def test_restore_rbox_rotations(degrees: float) -> None:
    # a pixel 1 from the top, 2 from the right, 3 from the bottom, 4 from the left of a 6x4 box
    origin = np.array([[100.0, 50.0]])
    t = math.radians(degrees)
    quad = native.restore_rbox(origin, [[1, 2, 3, 4, t]])[0]
    # the box's centre is (-1, +1) from the origin in the box's own axes
    centre = (
        origin[0]
        + (-1) * np.array([math.cos(t), math.sin(t)])
        + 1 * np.array([-math.sin(t), math.cos(t)])
    )
    np.testing.assert_allclose(quad, rect(*centre, 6, 4, degrees), atol=1e-12)


def test_restore_rbox_matches_the_reference() -> None:
    rng = np.random.default_rng(RNG_SEED + 7)
    origins = rng.random((5000, 2)) * 1000
    geometry = np.concatenate(
        [rng.random((5000, 4)) * 80, rng.uniform(-math.pi / 2, math.pi / 2, (5000, 1))], 1
    )
    np.testing.assert_allclose(
        native.restore_rbox(origins, geometry), reference.restore_rbox(origins, geometry), atol=1e-9
    )
    f32 = native.restore_rbox(origins.astype(np.float32), geometry.astype(np.float32))
    assert f32.dtype == np.float32


def test_a_million_rows() -> None:
    n = 10**6
    rng = np.random.default_rng(RNG_SEED + 8)
    origins = rng.random((n, 2), dtype=np.float32) * 1000
    geometry = np.concatenate(
        [rng.random((n, 4), dtype=np.float32) * 10, np.zeros((n, 1), np.float32)], 1
    )
    quads = native.restore_rbox(origins, geometry)
    assert quads.shape == (n, 8)
    ious = native.polygon_iou(quads, quads)
    assert ious.shape == (n,) and (ious[(geometry[:, :4].sum(1) > 0)] > 0.999).all()
    # one text line of a million candidate pixels, all merging into one quad
    same = np.tile(rect(500, 300, 200, 40), (n, 1)) + rng.normal(0, 0.5, (n, 8))
    merged, scores = native.locality_aware_nms(same, np.full(n, 0.9), 0.5)
    assert merged.shape == (1, 8) and scores[0] == pytest.approx(0.9 * n)
    # detections around 100 objects: NMS costs N x kept, as torchvision's does
    centres = rng.random((100, 2)) * 1000
    xy = centres[rng.integers(0, 100, n)] + rng.normal(0, 1, (n, 2))
    boxes = np.concatenate([xy - 20, xy + 20], axis=1)  # (n, 4)
    keep = native.nms(boxes, rng.random(n), 0.5)
    assert 100 <= len(keep) < 1000 and len(np.unique(keep)) == len(keep)


def test_kernels_release_the_gil() -> None:
    """While one thread is inside a long native call, another thread keeps running Python."""
    rng = np.random.default_rng(RNG_SEED + 9)
    boxes = np.concatenate([xy := rng.random((40_000, 2)) * 10_000, xy + 5], axis=1)
    scores = rng.random(40_000)
    window: dict[str, float] = {}

    def work() -> None:
        window["start"] = time.perf_counter()
        native.nms(boxes, scores, 0.5)  # ~all kept: O(n^2), a second or so
        window["end"] = time.perf_counter()

    thread = threading.Thread(target=work)
    ticks = []
    thread.start()
    while thread.is_alive():
        ticks.append(time.perf_counter())
    thread.join()
    inside = [t for t in ticks if window["start"] < t < window["end"]]
    assert len(inside) > 100, f"{len(inside)} ticks of the other thread during the native call"


# ---- bad input -------------------------------------------------------------------------------


def test_wrong_shapes_name_the_expected_shape() -> None:
    with pytest.raises(ValueError, match=r"^boxes must have shape \(N, 4\), got \(3, 5\)$"):
        native.nms(np.zeros((3, 5)), np.zeros(3), 0.5)
    with pytest.raises(
        ValueError, match=r"^scores must have shape \(3,\), one per row of boxes, got \(4,\)$"
    ):
        native.nms(np.zeros((3, 4)), np.zeros(4), 0.5)
    with pytest.raises(
        ValueError, match=r"^classes must have shape \(3,\), one per row of boxes, got \(3, 1\)$"
    ):
        native.batched_nms(np.zeros((3, 4)), np.zeros(3), np.zeros((3, 1), dtype=int), 0.5)
    with pytest.raises(ValueError, match=r"^a must have shape \(8,\) or \(N, 8\), got \(4, 2\)$"):
        native.polygon_iou(np.zeros((4, 2)), np.zeros(8))
    with pytest.raises(
        ValueError,
        match=r"^a and b must have the same number of rows \(or one quad\), got \(2, 8\) and \(3, 8\)$",
    ):
        native.polygon_iou(np.zeros((2, 8)), np.zeros((3, 8)))
    with pytest.raises(ValueError, match=r"^quads must have shape \(N, 8\), got \(8,\)$"):
        native.locality_aware_nms(np.zeros(8), np.ones(1), 0.5)
    with pytest.raises(ValueError, match=r"^origins must have shape \(N, 2\), got \(2,\)$"):
        native.restore_rbox(np.zeros(2), np.zeros((1, 5)))
    with pytest.raises(
        ValueError, match=r"^geometry must have shape \(2, 5\), one row per origin, got \(1, 5\)$"
    ):
        native.restore_rbox(np.zeros((2, 2)), np.zeros((1, 5)))


def test_wrong_dtypes_are_refused_with_type_error() -> None:
    with pytest.raises(TypeError, match=r"^boxes must hold real numbers, got dtype complex128$"):
        native.nms(np.zeros((1, 4), dtype=complex), np.zeros(1), 0.5)
    with pytest.raises(TypeError, match=r"^scores must hold real numbers, got dtype bool$"):
        native.nms(np.zeros((1, 4)), np.zeros(1, dtype=bool), 0.5)
    with pytest.raises(TypeError, match=r"^quads must hold real numbers, got dtype <U1$"):
        native.locality_aware_nms([["a"] * 8], [1.0], 0.5)
    with pytest.raises(TypeError, match=r"^classes must hold integers, got dtype float64$"):
        native.batched_nms(np.zeros((1, 4)), np.zeros(1), np.zeros(1), 0.5)
    with pytest.raises(TypeError, match=r"^iou_threshold must be a real number, got str$"):
        native.nms(np.zeros((1, 4)), np.zeros(1), "0.5")
    with pytest.raises(TypeError, match=r"^boxes must be an array of numbers: "):
        native.nms([[0, 0, 1], [0, 0, 1, 1]], [1, 2], 0.5)


def test_integer_and_half_inputs_are_converted() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10]], dtype=np.int32)
    assert native.nms(boxes, np.array([1, 2], dtype=np.float16), 0.5).tolist() == [1]
    half = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10]], dtype=torch.bfloat16)
    assert native.nms(half, torch.tensor([1.0, 2.0]), 0.5).tolist() == [1]


def test_non_finite_values_are_refused() -> None:
    with pytest.raises(
        ValueError, match=r"^boxes must be finite, got \[0\.0, nan, 1\.0, 1\.0\] at row 1$"
    ):
        native.nms([[0, 0, 1, 1], [0, math.nan, 1, 1]], [1, 2], 0.5)
    with pytest.raises(ValueError, match=r"^scores must be finite, got inf at index 0$"):
        native.nms([[0, 0, 1, 1]], [math.inf], 0.5)
    with pytest.raises(ValueError, match=r"^iou_threshold must be finite, got nan$"):
        native.nms([[0, 0, 1, 1]], [1.0], math.nan)
    with pytest.raises(ValueError, match=r"^b must be finite, got -inf at index 3$"):
        native.polygon_iou(np.zeros(8), [0, 0, 0, -math.inf, 0, 0, 0, 0])
    with pytest.raises(
        ValueError, match=r"^geometry must be finite, got \[1\.0, 1\.0, 1\.0, 1\.0, nan\] at row 0$"
    ):
        native.restore_rbox([[0, 0]], [[1, 1, 1, 1, math.nan]])


def test_values_outside_the_domain_are_refused() -> None:
    with pytest.raises(
        ValueError, match=r"^scores must be > 0 \(they weight the merge\), got 0\.0 at index 1$"
    ):
        native.locality_aware_nms(np.zeros((2, 8)), [1.0, 0.0], 0.5)
    with pytest.raises(
        ValueError,
        match=r"^geometry distances \(columns 0-3\) must be >= 0, got \[1\.0, -2\.0, 1\.0, 1\.0, 0\.0\] at row 0$",
    ):
        native.restore_rbox([[0, 0]], [[1, -2, 1, 1, 0]])
    with pytest.raises(
        ValueError,
        match=r"^b coordinates must lie within \+-1e\+300 \(differences between them must stay finite\), got 2e\+300 at index 2$",
    ):
        native.polygon_iou(rect(0, 0, 1, 1), [0, 0, 2e300, 0, 2e300, 2e300, 0, 2e300])
    with pytest.raises(
        ValueError, match=r"^restore_rbox: the result overflows float64 \(values too large\)$"
    ):
        native.restore_rbox([[1e308, 0]], [[1, 1e308, 1, 1, 0]])


def test_the_extension_under_test_is_the_intended_build(request: pytest.FixtureRequest) -> None:
    from mlpresets.native import _native

    package_root = request.config.getoption("--native-build") or Path(__file__).parents[1]
    expected = Path(package_root).resolve() / "mlpresets" / "native"
    assert Path(_native.__file__).resolve().parent == expected


def test_the_kernels_check_shapes_themselves() -> None:
    from mlpresets.native import _native

    with pytest.raises(ValueError, match=r"^boxes must have shape \(N, 4\), got \(2, 3\)$"):
        _native.nms_float32(np.zeros((2, 3), np.float32), np.zeros(2), 0.5)
    with pytest.raises(
        ValueError, match=r"^quads and scores must have the same length, got 2 and 3$"
    ):
        _native.locality_aware_nms(np.zeros((2, 8)), np.ones(3), 0.5)
