"""Plain numpy/Python versions of mlpresets.native, written to be obviously right, not fast.

The tests compare the C++ kernels with these, and ``benchmarks/nms.py`` times both. They take
arrays that ``mlpresets.native`` has already validated (no checks here).
"""

from __future__ import annotations

import math

import numpy as np

Point = tuple[float, float]


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS with torchvision's arithmetic: IoU in the boxes' dtype, compared in float64."""
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")  # ties: index order
    x1, y1, x2, y2 = boxes.T
    area = (x2 - x1) * (y2 - y1)
    suppressed = np.zeros(len(boxes), dtype=bool)
    keep = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        w = np.maximum(0, np.minimum(x2[i], x2) - np.maximum(x1[i], x1))
        h = np.maximum(0, np.minimum(y2[i], y2) - np.maximum(y1[i], y1))
        inter = w * h
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = inter / (area[i] + area - inter)
        suppressed |= iou.astype(np.float64) > iou_threshold  # rows already visited don't matter
    return np.array(keep, dtype=np.int64)


def batched_nms(
    boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """NMS run on each class alone; the kept indices sorted by score, ties by index."""
    keep = []
    for c in np.unique(classes):
        rows = np.flatnonzero(classes == c)
        keep.extend(rows[nms(boxes[rows], scores[rows], iou_threshold)])
    kept = np.sort(np.array(keep, dtype=np.int64))
    return kept[np.argsort(-np.asarray(scores, dtype=np.float64)[kept], kind="stable")]


def _cross(o: Point, a: Point, b: Point) -> float:
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _area(poly: list[Point]) -> float:
    """Signed area (shoelace): > 0 for counter-clockwise vertices (y up)."""
    n = len(poly)
    return 0.5 * sum(
        poly[i][0] * poly[(i + 1) % n][1] - poly[(i + 1) % n][0] * poly[i][1] for i in range(n)
    )


EPS = 1e-9  # relative: turns and gaps smaller than this count as none


def _side(o: Point, a: Point, b: Point) -> int:
    """+1 if b lies left of o -> a, -1 right, 0 within EPS (relative to the two lengths)."""
    c = _cross(o, a, b)
    tol = EPS * math.dist(o, a) * math.dist(o, b)
    return 1 if c > tol else -1 if c < -tol else 0


def _crosses(a: Point, b: Point, c: Point, d: Point) -> bool:
    """Segments ab and cd cross at a point interior to both."""
    return _side(a, b, c) * _side(a, b, d) < 0 and _side(c, d, a) * _side(c, d, b) < 0


def _unit_scale(size: float) -> float:
    """The power of two that brings `size` into [1, 2): an exact rescaling."""
    return math.ldexp(1.0, 1 - math.frexp(size)[1])


def convex_pieces(quad: np.ndarray) -> list[list[Point]]:
    """Convex counter-clockwise pieces whose union is the quad (none if it has no area).

    Worked out with the quad moved to its first vertex and scaled to unit size (exactly, by a
    power of two): bow-tie orders become the simple quad through the same points; vertices
    within EPS of the previous one, or whose edges turn by less than EPS, are dropped; a
    non-convex quad is split into two triangles at its reflex vertex.
    """
    xy = np.asarray(quad, dtype=np.float64).reshape(4, 2)
    size = float((xy.max(axis=0) - xy.min(axis=0)).max())
    if not (size > 0 and math.isfinite(size)):
        return []
    anchor, scale = xy[0].copy(), _unit_scale(size)
    p = [((float(x) - anchor[0]) * scale, (float(y) - anchor[1]) * scale) for x, y in xy]
    if _crosses(p[0], p[1], p[2], p[3]):
        p[1], p[2] = p[2], p[1]
    elif _crosses(p[1], p[2], p[3], p[0]):
        p[2], p[3] = p[3], p[2]
    if _area(p) < 0:
        p = [p[0], p[3], p[2], p[1]]
    changed = True
    while changed and len(p) >= 3:
        changed = False
        for i in range(len(p)):
            prev, cur, nxt = p[i - 1], p[i], p[(i + 1) % len(p)]
            e1, e2 = math.dist(prev, cur), math.dist(cur, nxt)
            if e1 <= EPS or abs(_cross(prev, cur, nxt)) <= EPS * e1 * e2:
                del p[i]
                changed = True
                break
    if len(p) < 3 or not _area(p) > 0:
        return []
    reflex = [i for i in range(len(p)) if _cross(p[i - 1], p[i], p[(i + 1) % len(p)]) < 0]
    p = [(x / scale + anchor[0], y / scale + anchor[1]) for x, y in p]
    if not reflex:
        return [p]
    r = reflex[-1]
    return [[p[r], p[(r + 1) % 4], p[(r + 2) % 4]], [p[r], p[(r + 2) % 4], p[(r + 3) % 4]]]


def _clip(subject: list[Point], clipper: list[Point]) -> list[Point]:
    """Sutherland-Hodgman: the part of convex `subject` inside convex, counter-clockwise
    `clipper`."""
    out = subject
    for e in range(len(clipper)):
        a, b = clipper[e], clipper[(e + 1) % len(clipper)]
        pts, out = out, []
        for k in range(len(pts)):
            prev, cur = pts[k - 1], pts[k]
            dp, dc = _cross(a, b, prev), _cross(a, b, cur)
            if (dc >= 0) != (dp >= 0):
                t = dp / (dp - dc)
                out.append((prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])))
            if dc >= 0:
                out.append(cur)
    return out


def quad_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two quads: their convex pieces clipped against each other, with both moved to
    their common corner and scaled to unit size, so no area is lost to rounding or underflow."""
    pieces_a, pieces_b = convex_pieces(a), convex_pieces(b)
    xy_a = np.asarray(a, dtype=np.float64).reshape(4, 2)
    xy_b = np.asarray(b, dtype=np.float64).reshape(4, 2)
    if not pieces_a or not pieces_b:
        return 0.0
    if (xy_a.max(0) <= xy_b.min(0)).any() or (xy_b.max(0) <= xy_a.min(0)).any():
        return 0.0  # bounding boxes apart
    both = np.concatenate([xy_a, xy_b])
    origin = both.min(axis=0)
    scale = _unit_scale(float((both.max(axis=0) - origin).max()))

    def local(piece: list[Point]) -> list[Point]:
        return [((x - origin[0]) * scale, (y - origin[1]) * scale) for x, y in piece]

    pieces_a, pieces_b = [local(p) for p in pieces_a], [local(p) for p in pieces_b]
    area_a = sum(_area(p) for p in pieces_a)
    area_b = sum(_area(p) for p in pieces_b)
    inter = 0.0
    for pa in pieces_a:
        for pb in pieces_b:
            clipped = _clip(pa, pb)
            if len(clipped) >= 3:
                inter += max(0.0, _area(clipped))
    inter = min(inter, area_a, area_b)
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def polygon_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of (N, 8) quads."""
    return np.array([quad_iou(qa, qb) for qa, qb in zip(a, b, strict=True)], dtype=np.float64)


def locality_aware_nms(
    quads: np.ndarray, scores: np.ndarray, iou_threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """EAST's two passes: merge consecutive rows by weighted mean, then polygon NMS by score."""
    merged: list[np.ndarray] = []  # per merged quad: the score-weighted mean of its quads
    weights: list[float] = []  # per merged quad: sum of scores
    rows = zip(
        np.asarray(quads, dtype=np.float64), np.asarray(scores, dtype=np.float64), strict=True
    )
    for q, s in rows:
        if merged and quad_iou(merged[-1], q) > iou_threshold:
            weights[-1] += s
            merged[-1] = merged[-1] + (s / weights[-1]) * (q - merged[-1])  # running mean
        else:
            merged.append(q)
            weights.append(float(s))
    order = np.argsort(-np.array(weights), kind="stable")
    keep: list[int] = []
    for i in order:
        if all(quad_iou(merged[k], merged[i]) <= iou_threshold for k in keep):
            keep.append(int(i))
    out_q = np.array([merged[k] for k in keep], dtype=np.float64).reshape(-1, 8)
    return out_q, np.array([weights[k] for k in keep], dtype=np.float64)


def restore_rbox(origins: np.ndarray, geometry: np.ndarray) -> np.ndarray:
    """Each pixel's rectangle: local corners (-left, -top) .. rotated by the angle, moved to it."""
    top, right, bottom, left, angle = np.asarray(geometry, dtype=np.float64).T
    corners = np.stack(  # (N, 4, 2): TL, TR, BR, BL in the rectangle's own frame
        [
            np.stack([-left, -top], axis=1),
            np.stack([right, -top], axis=1),
            np.stack([right, bottom], axis=1),
            np.stack([-left, bottom], axis=1),
        ],
        axis=1,
    )
    c, s = np.cos(angle), np.sin(angle)
    rotation = np.stack([np.stack([c, -s], axis=1), np.stack([s, c], axis=1)], axis=1)  # (N, 2, 2)
    rotated = np.einsum("nij,nkj->nki", rotation, corners)  # (N, 4, 2)
    return (rotated + np.asarray(origins, dtype=np.float64)[:, None, :]).reshape(-1, 8)
