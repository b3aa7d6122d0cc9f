"""mlpresets.native (C++) vs its numpy reference (mlpresets.native.reference) and torchvision.

Times, in one run on the CPU, at 1k and 10k rows each: box ``nms`` and ``batched_nms``
(20 classes) on detector-like float32 boxes (clusters of jittered boxes around objects of
10-200 px in a 1280x720 image, uniform scores; the kept indices are checked to be identical to
torchvision's before timing), ``polygon_iou`` on pairs of overlapping random convex quads,
``restore_rbox``, ``locality_aware_nms`` on shuffled clusters of quads and on the candidates of
a synthetic EAST score/RBOX map of a 720p image (stride 4: a 320x180 map with rotated text
rectangles), and the whole ``decode_text_boxes`` on those maps. Native and torchvision calls
take the best of ``--repeat`` runs; reference calls the best of up to 3 runs within a few
seconds. A reference call that would take more than ``--budget`` seconds (judged from a
1000-row run, assuming O(n^2)) is timed on the first rows only, together with a native call on
the same rows, and the table says so. torch runs with its default thread count (printed);
the native kernels are single-threaded.

Targets: ``nms``/``batched_nms`` >= 20x faster than the reference and <= 2x torchvision's time;
``locality_aware_nms`` on ~10k candidates from a 720p map <= 10 ms.

    .venv/bin/python benchmarks/nms.py [--repeat 20] [--budget 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision

from mlpresets import native
from mlpresets.detection import decode_text_boxes
from mlpresets.native import reference

IMAGE_W, IMAGE_H = 1280, 720
STRIDE = 4
IOU = 0.5  # box NMS threshold
QUAD_IOU = 0.2  # locality-aware NMS threshold (EAST's default, and decode_text_boxes')
SCORE_THRESH = 0.8


@dataclass
class Row:
    op: str
    n: str
    native_ms: float
    ref_ms: float | None = None
    ref_note: str = ""  # how the reference was measured, when not on all n rows
    ref_ratio: float | None = None  # reference time / native time on the same rows
    tv_ms: float | None = None
    target: str = "-"
    met: bool | tuple[bool, bool] | None = None  # (vs reference, vs torchvision) for box NMS


def best_ms(fn: Callable[[], Any], repeat: int, budget_s: float = float("inf")) -> float:
    """The fastest of `repeat` calls in milliseconds; stops early once `budget_s` is spent."""
    times: list[float] = []
    spent = 0.0
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        times.append(elapsed)
        spent += elapsed
        if spent >= budget_s:
            break
    return 1e3 * min(times)


def vs_reference(
    row: Row,
    ref_fn: Callable[[int], Any],
    native_fn: Callable[[int], Any],
    n: int,
    budget_s: float,
) -> None:
    """Fill row.ref_ms/ref_ratio; ref_fn(m)/native_fn(m) run on the first m rows.

    When 1000 rows, scaled as n^2, would exceed the budget, the reference runs on the largest
    m that fits the budget, and the ratio compares it with native on the same m rows.
    """
    probe = min(n, 1000)
    probe_ms = best_ms(lambda: ref_fn(probe), 1)
    m = n
    if probe_ms / 1e3 * (n / probe) ** 2 > budget_s:
        m = int(probe * (budget_s / (probe_ms / 1e3)) ** 0.5) // 100 * 100
        m = min(max(m, probe), n)
    ref = best_ms(lambda: ref_fn(m), 3, budget_s=3.0)
    if m == probe:
        ref = min(ref, probe_ms)
    if m == n:
        row.ref_ms, row.ref_ratio = ref, ref / row.native_ms
    else:
        native_m = best_ms(lambda: native_fn(m), 10)
        row.ref_ms, row.ref_ratio = ref, ref / native_m
        row.ref_note = f"on first {m} rows, native {fmt_ms(native_m)} ms there"


# ---------------------------------------------------------------- inputs


def detector_boxes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """float32 (n, 4) boxes and (n,) scores: jittered candidates around n/25 objects of
    10-200 px in a 1280x720 image, as a detector's pre-NMS output; uniform scores."""
    objects = max(n // 25, 1)
    centre = rng.uniform((0, 0), (IMAGE_W, IMAGE_H), (objects, 2))
    size = rng.uniform(10, 200, (objects, 2))
    owner = rng.integers(0, objects, n)
    wh = np.clip(size[owner] * np.exp(rng.normal(0, 0.15, (n, 2))), 10, 200)
    centres = centre[owner] + rng.normal(0, 0.1, (n, 2)) * size[owner]
    boxes = np.concatenate([centres - wh / 2, centres + wh / 2], axis=1)
    boxes = np.clip(boxes, 0, [IMAGE_W, IMAGE_H, IMAGE_W, IMAGE_H])
    return boxes.astype(np.float32), rng.uniform(0, 1, n).astype(np.float32)


def rectangle_quads(centre: np.ndarray, wh: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """(n, 8) rotated rectangles, corners TL, TR, BR, BL (restore_rbox's order)."""
    half = wh / 2
    geometry = np.stack([half[:, 1], half[:, 0], half[:, 1], half[:, 0], angle], axis=1)
    return reference.restore_rbox(centre, geometry)


def convex_quads(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n pairs of random convex quads (points on a circle, sorted by angle) that overlap."""

    def ring(centre: np.ndarray, radius: np.ndarray) -> np.ndarray:
        angles = np.sort(rng.uniform(0, 2 * np.pi, (n, 4)), axis=1)
        xs = centre[:, :1] + radius * np.cos(angles)
        ys = centre[:, 1:] + radius * np.sin(angles)
        return np.stack([xs, ys], axis=2).reshape(n, 8)

    centre = rng.uniform((0, 0), (IMAGE_W, IMAGE_H), (n, 2))
    radius = rng.uniform(5, 100, (n, 1))
    shift = rng.normal(0, 0.3, (n, 2)) * radius
    return ring(centre, radius), ring(centre + shift, radius * rng.uniform(0.7, 1.3, (n, 1)))


def clustered_quads(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Jittered rotated-rectangle candidates around n/20 text boxes, in random order."""
    objects = max(n // 20, 1)
    centre = rng.uniform((0, 0), (IMAGE_W, IMAGE_H), (objects, 2))
    wh = np.stack([rng.uniform(40, 400, objects), rng.uniform(10, 60, objects)], axis=1)
    angle = rng.uniform(-0.4, 0.4, objects)
    owner = rng.integers(0, objects, n)
    quads = rectangle_quads(
        centre[owner] + rng.normal(0, 3, (n, 2)),
        wh[owner] * np.exp(rng.normal(0, 0.05, (n, 2))),
        angle[owner] + rng.normal(0, 0.02, n),
    )
    return quads, rng.uniform(0.8, 1.0, n)


def text_map(
    rng: np.random.Generator, rects: list[tuple[float, float, float, float, float]]
) -> tuple[np.ndarray, np.ndarray]:
    """float32 score map (H, W) and RBOX geometry (5, H, W) of a 720p image at stride 4, with
    the rotated rectangles (centre x, centre y, width, height, angle) in image pixels drawn in.
    """
    rows, cols = np.mgrid[0 : IMAGE_H // STRIDE, 0 : IMAGE_W // STRIDE]
    px, py = cols * STRIDE, rows * STRIDE
    score = rng.uniform(0, 0.3, px.shape)
    geo = np.zeros((5, *px.shape))
    for cx, cy, w, h, t in rects:
        a = (px - cx) * np.cos(t) + (py - cy) * np.sin(t)
        d = -(px - cx) * np.sin(t) + (py - cy) * np.cos(t)
        inside = (np.abs(a) <= w / 2) & (np.abs(d) <= h / 2)
        g = np.stack([d + h / 2, w / 2 - a, h / 2 - d, a + w / 2, np.full(a.shape, t)])
        g[:4] = np.maximum(g[:4] + rng.normal(0, 0.5, g[:4].shape), 0)
        g[4] += rng.normal(0, 0.01, a.shape)
        geo[:, inside] = g[:, inside]
        score[inside] = np.clip(0.9 + rng.normal(0, 0.03, int(inside.sum())), 0.81, 1.0)
    return score.astype(np.float32), geo.astype(np.float32)


def text_rects(rng: np.random.Generator, lines: int, width: float, height: float) -> list:
    """`lines` rows of two text lines each across the image, angles within +-0.25 rad."""
    rects = []
    for i in range(lines):
        for j in range(2):
            cx = IMAGE_W / 4 * (1 + 2 * j) + rng.uniform(-30, 30)
            cy = IMAGE_H / lines * (i + 0.5)
            rects.append((cx, cy, width, height, rng.uniform(-0.25, 0.25)))
    return rects


def map_candidates(score: np.ndarray, geo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """decode_text_boxes' steps 1-2: pixels > 0.8 row by row, their restored quads."""
    rows, cols = np.nonzero(score > SCORE_THRESH)
    origins = np.stack([cols, rows], axis=1).astype(np.float64) * STRIDE
    quads = native.restore_rbox(origins, geo[:, rows, cols].T)
    return np.asarray(quads, dtype=np.float64), score[rows, cols].astype(np.float64)


# ---------------------------------------------------------------- measurements


def bench_nms(rng: np.random.Generator, n: int, repeat: int, budget: float) -> list[Row]:
    boxes, scores = detector_boxes(rng, n)
    classes = rng.integers(0, 20, n)
    tb, ts, tc = torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes)
    rows = []

    keep = native.nms(boxes, scores, IOU)
    tv_keep = torchvision.ops.nms(tb, ts, IOU).numpy()
    assert np.array_equal(keep, tv_keep), "nms: kept indices differ from torchvision's"
    assert np.array_equal(keep, reference.nms(boxes, scores, IOU)), "nms: differs from reference"
    row = Row("nms (float32)", f"{n} ({len(keep)} kept)", 0.0)
    row.native_ms = best_ms(lambda: native.nms(boxes, scores, IOU), repeat)
    row.tv_ms = best_ms(lambda: torchvision.ops.nms(tb, ts, IOU), repeat)
    vs_reference(
        row,
        lambda m: reference.nms(boxes[:m], scores[:m], IOU),
        lambda m: native.nms(boxes[:m], scores[:m], IOU),
        n,
        budget,
    )
    rows.append(row)

    keep = native.batched_nms(boxes, scores, classes, IOU)
    tv_keep = torchvision.ops.batched_nms(tb, ts, tc, IOU).numpy()
    assert np.array_equal(keep, tv_keep), "batched_nms: kept indices differ from torchvision's"
    ref_keep = reference.batched_nms(boxes, scores, classes, IOU)
    assert np.array_equal(keep, ref_keep), "batched_nms: differs from reference"
    row = Row("batched_nms (float32, 20 classes)", f"{n} ({len(keep)} kept)", 0.0)
    row.native_ms = best_ms(lambda: native.batched_nms(boxes, scores, classes, IOU), repeat)
    row.tv_ms = best_ms(lambda: torchvision.ops.batched_nms(tb, ts, tc, IOU), repeat)
    vs_reference(
        row,
        lambda m: reference.batched_nms(boxes[:m], scores[:m], classes[:m], IOU),
        lambda m: native.batched_nms(boxes[:m], scores[:m], classes[:m], IOU),
        n,
        budget,
    )
    rows.append(row)

    for row in rows:
        assert row.ref_ratio is not None and row.tv_ms is not None
        row.target = ">= 20x vs ref; <= 2x tv"
        row.met = (row.ref_ratio >= 20, row.native_ms / row.tv_ms <= 2)
    return rows


def timed(
    op: str,
    size: str,
    fn: Callable[..., Any],
    ref: Callable[..., Any],
    arrays: tuple[np.ndarray, ...],
    repeat: int,
    budget: float,
) -> Row:
    """A row timing fn(*arrays) against ref(*arrays), both on the same leading rows."""
    row = Row(op, size, 0.0)
    row.native_ms = best_ms(lambda: fn(*arrays), repeat)
    vs_reference(
        row,
        lambda m: ref(*(a[:m] for a in arrays)),
        lambda m: fn(*(a[:m] for a in arrays)),
        len(arrays[0]),
        budget,
    )
    return row


def bench_quads(rng: np.random.Generator, n: int, repeat: int, budget: float) -> list[Row]:
    a, b = convex_quads(rng, n)
    iou = native.polygon_iou(a, b)
    assert np.allclose(iou, reference.polygon_iou(a, b), rtol=0, atol=1e-9), "polygon_iou"
    size = f"{n} ({np.mean(iou > 0):.0%} overlap)"
    rows = [
        timed(
            "polygon_iou (convex pairs)",
            size,
            native.polygon_iou,
            reference.polygon_iou,
            (a, b),
            repeat,
            budget,
        )  # fmt: skip
    ]

    origins = rng.uniform((0, 0), (IMAGE_W, IMAGE_H), (n, 2))
    geometry = np.concatenate([rng.uniform(0, 50, (n, 4)), rng.uniform(-0.8, 0.8, (n, 1))], 1)
    assert np.allclose(
        native.restore_rbox(origins, geometry), reference.restore_rbox(origins, geometry)
    )
    rows.append(
        timed(
            "restore_rbox (float64)",
            str(n),
            native.restore_rbox,
            reference.restore_rbox,
            (origins, geometry),
            repeat,
            budget,
        )  # fmt: skip
    )

    quads, scores = clustered_quads(rng, n)
    _, out_s = native.locality_aware_nms(quads, scores, QUAD_IOU)
    m = min(n, 1000)
    check_q, check_s = native.locality_aware_nms(quads[:m], scores[:m], QUAD_IOU)
    ref_q, ref_s = reference.locality_aware_nms(quads[:m], scores[:m], QUAD_IOU)
    assert np.allclose(check_q, ref_q) and np.allclose(check_s, ref_s), "locality_aware_nms"
    rows.append(
        timed(
            "locality_aware_nms (shuffled clusters)",
            f"{n} -> {len(out_s)}",
            lambda q, s: native.locality_aware_nms(q, s, QUAD_IOU),
            lambda q, s: reference.locality_aware_nms(q, s, QUAD_IOU),
            (quads, scores),
            repeat,
            budget,
        )
    )
    return rows


def bench_text_map(
    rng: np.random.Generator, lines: int, width: float, repeat: int, budget: float, big: bool
) -> list[Row]:
    score, geo = text_map(rng, text_rects(rng, lines, width, 36.0))
    quads, scores = map_candidates(score, geo)
    n = len(scores)
    out_q, out_s = native.locality_aware_nms(quads, scores, QUAD_IOU)
    ref_q, ref_s = reference.locality_aware_nms(quads, scores, QUAD_IOU)
    assert np.allclose(out_q, ref_q) and np.allclose(out_s, ref_s), "locality_aware_nms (map)"
    rows = []
    row = Row("locality_aware_nms (720p text map)", f"{n} -> {len(out_s)}", 0.0)
    row.native_ms = best_ms(lambda: native.locality_aware_nms(quads, scores, QUAD_IOU), repeat)
    vs_reference(
        row,
        lambda m: reference.locality_aware_nms(quads[:m], scores[:m], QUAD_IOU),
        lambda m: native.locality_aware_nms(quads[:m], scores[:m], QUAD_IOU),
        n,
        budget,
    )
    if big:
        row.target, row.met = "<= 10 ms", row.native_ms <= 10
    rows.append(row)

    quads_out, _ = decode_text_boxes(score, geo, SCORE_THRESH, QUAD_IOU)
    ref_out, _ = decode_text_boxes(score, geo, SCORE_THRESH, QUAD_IOU, backend="reference")
    assert np.allclose(quads_out, ref_out), "decode_text_boxes: native != reference"
    row = Row("decode_text_boxes (320x180 map)", f"{n} px -> {len(quads_out)}", 0.0)
    row.native_ms = best_ms(lambda: decode_text_boxes(score, geo), repeat)
    row.ref_ms = best_ms(lambda: decode_text_boxes(score, geo, backend="reference"), 3, 3.0)
    row.ref_ratio = row.ref_ms / row.native_ms
    rows.append(row)
    return rows


# ---------------------------------------------------------------- output


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"


def yes_no(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def print_table(rows: list[Row]) -> None:
    ops = list(dict.fromkeys(r.op for r in rows))
    rows = sorted(rows, key=lambda r: ops.index(r.op))  # stable: 1k before 10k
    head = ["operation", "n", "native ms", "reference ms", "ratio", "torchvision ms", "ratio"]
    print("| " + " | ".join([*head, "target", "met?"]) + " |")
    print("|---|---|--:|--:|--:|--:|--:|---|---|")
    for r in rows:
        ref = fmt_ms(r.ref_ms) + (f" ({r.ref_note})" if r.ref_note else "")
        ref_ratio = "-" if r.ref_ratio is None else f"{r.ref_ratio:.1f}x faster"
        tv_ratio = "-" if r.tv_ms is None else f"{r.native_ms / r.tv_ms:.2f}"
        if isinstance(r.met, tuple):
            met = f"ref: {yes_no(r.met[0])}; tv: {yes_no(r.met[1])}"
        else:
            met = "-" if r.met is None else yes_no(r.met)
        cells = [r.op, r.n, fmt_ms(r.native_ms), ref, ref_ratio, fmt_ms(r.tv_ms), tv_ratio]
        print("| " + " | ".join([*cells, r.target, met]) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20, help="runs of each native/tv call")
    parser.add_argument("--budget", type=float, default=20.0, help="max s for a reference call")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    threads = torch.get_num_threads()
    torch.set_num_threads(threads)  # torch's own default, set explicitly so it is on record
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    rows: list[Row] = []
    for n in (1000, 10000):
        rows += bench_nms(rng, n, args.repeat, args.budget)
    for n in (1000, 10000):
        rows += bench_quads(rng, n, args.repeat, args.budget)
    # ~1k and ~10k candidate pixels above 0.8 in a 320x180 map
    rows += bench_text_map(rng, 2, 120.0, args.repeat, args.budget, big=False)
    rows += bench_text_map(rng, 6, 380.0, args.repeat, args.budget, big=True)

    print(
        f"CPU: {cpu_name()}, {os.cpu_count()} cores; "
        f"torch {torch.__version__}, torchvision {torchvision.__version__}, "
        f"torch.set_num_threads({threads}) (torch's default here); native kernels: 1 thread"
    )
    print(
        "native/torchvision ms: best of "
        f"{args.repeat}; reference ms: best of <= 3 (<= 3 s). ratio vs reference = "
        "reference / native (same rows); ratio vs torchvision = native / torchvision."
    )
    print()
    print_table(rows)
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
