"""decode_text_boxes on score/geometry maps drawn from known rotated rectangles."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mlpresets.detection import decode_text_boxes, mean_score_in_quads
from mlpresets.native import polygon_iou

STRIDE = 4


def draw(
    boxes: list[tuple[float, float, float, float, float]],
    shape: tuple[int, int],
    score: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """Score map (H, W) and RBOX geometry (5, H, W) of rotated rectangles (cx, cy, w, h,
    degrees) in input pixels, for a map of `shape` at stride STRIDE."""
    height, width = shape
    score_map = np.zeros(shape, dtype=np.float32)
    geo_map = np.zeros((5, *shape), dtype=np.float32)
    rows, cols = np.mgrid[0:height, 0:width]
    px, py = cols * STRIDE, rows * STRIDE  # each map pixel's position in the image
    for cx, cy, w, h, degrees in boxes:
        t = math.radians(degrees)
        a = (px - cx) * math.cos(t) + (py - cy) * math.sin(t)  # along the box's right axis
        d = -(px - cx) * math.sin(t) + (py - cy) * math.cos(t)  # along its down axis
        inside = (np.abs(a) <= w / 2) & (np.abs(d) <= h / 2)
        score_map[inside] = score
        for channel, value in enumerate([d + h / 2, w / 2 - a, h / 2 - d, a + w / 2]):
            geo_map[channel][inside] = value[inside]  # top, right, bottom, left
        geo_map[4][inside] = t
    return score_map, geo_map


def corners(cx: float, cy: float, w: float, h: float, degrees: float) -> np.ndarray:
    t = math.radians(degrees)
    right, down = np.array([math.cos(t), math.sin(t)]), np.array([-math.sin(t), math.cos(t)])
    pts = [(-w / 2, -h / 2), (w / 2, -h / 2), (w / 2, h / 2), (-w / 2, h / 2)]
    return np.concatenate([np.array([cx, cy]) + a * right + d * down for a, d in pts])


BOXES = [
    (100.0, 60.0, 120.0, 30.0, 0.0),
    (250.0, 150.0, 100.0, 40.0, 30.0),
    (300.0, 50.0, 60.0, 20.0, -20.0),
    (80.0, 200.0, 50.0, 50.0, 90.0),
    (330.0, 220.0, 70.0, 24.0, 45.0),
]


@pytest.mark.parametrize("backend", ["native", "reference"])
def test_decoding_recovers_the_drawn_boxes(backend: str) -> None:
    score_map, geo_map = draw(BOXES, (64, 96))
    quads, scores = decode_text_boxes(score_map, geo_map, 0.8, 0.2, 0.1, backend=backend)  # type: ignore[arg-type]
    assert quads.shape == (len(BOXES), 8)
    np.testing.assert_allclose(scores, 0.95, atol=1e-6)  # the mean score inside each box
    for box in BOXES:
        expected = corners(*box)
        best = int(np.argmax(polygon_iou(expected, quads)))
        # the same rectangle, vertex for vertex (top-left first), up to float32 geometry
        np.testing.assert_allclose(quads[best], expected, atol=1e-3)


def test_noisy_maps_merge_into_one_box_per_text() -> None:
    rng = np.random.default_rng(0)
    score_map, geo_map = draw(BOXES, (64, 96))
    inside = score_map > 0
    score_map[inside] += rng.uniform(-0.1, 0.04, inside.sum()).astype(np.float32)
    geo_map[:4][:, inside] += rng.normal(0, 1.0, (4, inside.sum())).astype(np.float32)
    geo_map[:4] = np.maximum(geo_map[:4], 0)
    stray = (rng.random(score_map.shape) < 0.003) & ~inside  # isolated false positives
    score_map[stray] = 0.9
    geo_map[:4, stray] = rng.uniform(2, 8, (4, stray.sum()))  # boxes a few pixels wide
    quads, _ = decode_text_boxes(
        torch.from_numpy(score_map), torch.from_numpy(geo_map), 0.8, 0.2, 0.5
    )
    ious = np.array([polygon_iou(corners(*box), quads).max() for box in BOXES])
    assert (ious > 0.85).all(), ious
    assert len(quads) == len(BOXES)  # the stray pixels' boxes fall below box_thresh


def test_box_thresh_drops_boxes_whose_inside_scores_low() -> None:
    score_map, geo_map = draw(BOXES[:1], (64, 96))
    # geometry claims a box twice as long as the pixels that scored: mean inside ~0.47
    geo_map[1][score_map > 0] += 120
    quads, scores = decode_text_boxes(score_map, geo_map, 0.8, 0.2, 0.4)
    assert len(quads) == 1 and scores[0] == pytest.approx(0.95 * 0.5, abs=0.05)
    assert decode_text_boxes(score_map, geo_map, 0.8, 0.2, 0.5)[0].shape == (0, 8)


def test_nothing_above_the_threshold_gives_no_boxes() -> None:
    quads, scores = decode_text_boxes(np.zeros((8, 8)), np.zeros((5, 8, 8)), 0.8, 0.2, 0.1)
    assert quads.shape == (0, 8) and scores.shape == (0,)


def test_zero_area_boxes_are_dropped() -> None:
    score_map = np.zeros((8, 8))
    score_map[3, 4] = 0.99  # a confident pixel whose geometry is a point
    quads, _ = decode_text_boxes(score_map, np.zeros((5, 8, 8)), 0.8, 0.2, 0.1)
    assert quads.shape == (0, 8)


def test_mean_score_in_quads_counts_the_pixels_inside() -> None:
    score = np.arange(20, dtype=np.float64).reshape(4, 5)  # (H, W)
    square = np.array([[1, 1, 3, 1, 3, 2, 1, 2]], dtype=np.float64)  # columns 1-3, rows 1-2
    assert mean_score_in_quads(score, square)[0] == pytest.approx(score[1:3, 1:4].mean())
    outside = np.array([[10, 10, 12, 10, 12, 12, 10, 12]], dtype=np.float64)
    assert mean_score_in_quads(score, outside)[0] == 0.0


def test_bad_maps_are_refused() -> None:
    with pytest.raises(
        ValueError, match=r"^score_map must have shape \(H, W\) or \(1, H, W\), got \(2, 8, 8\)$"
    ):
        decode_text_boxes(np.zeros((2, 8, 8)), np.zeros((5, 8, 8)))
    with pytest.raises(ValueError, match=r"^geo_map must have shape \(5, 8, 8\), got \(8, 8, 5\)$"):
        decode_text_boxes(np.zeros((8, 8)), np.zeros((8, 8, 5)))
    geo = np.zeros((5, 8, 8))
    geo[4, 2, 3] = math.nan
    with pytest.raises(
        ValueError, match=r"^geo_map must be finite, got \[0\.0, 0\.0, 0\.0, 0\.0, nan\] at row 19$"
    ):
        decode_text_boxes(np.zeros((8, 8)), geo)
    with pytest.raises(
        ValueError,
        match=r"^score_map must hold probabilities in \[0, 1\], got 1\.5 at row 2, column 3$",
    ):
        decode_text_boxes(np.pad([[1.5]], ((2, 5), (3, 4))), np.zeros((5, 8, 8)))
    with pytest.raises(ValueError, match=r"^stride must be an integer from 1 to 2\*\*20, got 0$"):
        decode_text_boxes(np.zeros((8, 8)), np.zeros((5, 8, 8)), stride=0)
    with pytest.raises(ValueError, match=r"^score_thresh must be >= 0, got -0\.5$"):
        decode_text_boxes(np.zeros((8, 8)), np.zeros((5, 8, 8)), score_thresh=-0.5)
    with pytest.raises(ValueError, match=r"^nms_thresh must be finite, got nan$"):
        decode_text_boxes(np.zeros((8, 8)), np.zeros((5, 8, 8)), nms_thresh=math.nan)
    geo = np.zeros((5, 8, 8))
    geo[1, 4, 6] = -2.0
    with pytest.raises(
        ValueError,
        match=r"^geo_map distances \(channels 0-3\) must be >= 0, got -2\.0 at channel 1, row 4, column 6$",
    ):
        decode_text_boxes(np.zeros((8, 8)), geo)
    with pytest.raises(ValueError, match=r"^backend must be 'native' or 'reference', got 'gpu'$"):
        decode_text_boxes(np.zeros((8, 8)), np.zeros((5, 8, 8)), backend="gpu")  # type: ignore[arg-type]
