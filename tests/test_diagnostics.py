"""callbacks=diagnostics: the TensorBoard pictures of real runs, their pieces on hand-made input,
and that a run with it trains exactly as one without."""

from __future__ import annotations

import io
import logging
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mlpresets.callbacks import probes, render, views
from mlpresets.callbacks.diagnostics import Diagnostics
from mlpresets.data.voc import VOC_CLASSES
from mlpresets.errors import ConfigError
from tests.conftest import FEW, make_cfg, train
from tests.test_voc import make_voc

KNOBS = make_cfg(Path("unused"), "callbacks=diagnostics").callbacks.diagnostics
TILE = KNOBS.tile_size
NCOL = KNOBS.ncol
# Two epochs of three batches: the filter grid must appear once per epoch; every step logged so
# DeviceStatsMonitor writes within so few steps; deterministic, to compare with a plain run.
DIGITS = ["trainer.max_epochs=2", "trainer.log_every_n_steps=1", "trainer.deterministic=true"]


# -- geometry the tests expect, from the grid rules ---------------------------------------
def grid_size(n: int, tile_h: int, tile_w: int, ncol: int = NCOL) -> tuple[int, int]:
    """(width, height) of n tiles, ncol per row, render.PAD px around each."""
    cols, rows = min(n, ncol), math.ceil(n / ncol)
    return cols * tile_w + (cols + 1) * render.PAD, rows * tile_h + (rows + 1) * render.PAD


def enlarged(side: int) -> int:
    """A side after nearest upscaling by the smallest integer reaching min_tile_px."""
    return side * max(1, math.ceil(KNOBS.min_tile_px / side))


def captioned_size(n: int, lines: int) -> tuple[int, int]:
    return grid_size(n, TILE + lines * render.LINE, TILE)


def layer_sides(net: nn.Module, image: torch.Tensor) -> dict[str, int]:
    """The spatial side of each of net.layer1..4's outputs for one image."""
    sides: dict[str, int] = {}
    for name in ("layer1", "layer2", "layer3", "layer4"):
        if hasattr(net, name):
            getattr(net, name).register_forward_hook(
                lambda _m, _i, out, name=name: sides.__setitem__(name, out.shape[-1])
            )
    net.eval()
    with torch.no_grad():
        net(image[None])
    return sides


def read_events(run_dir: Path) -> EventAccumulator:
    events = EventAccumulator(
        str(run_dir / "tensorboard"), size_guidance={"images": 0, "tensors": 0, "scalars": 0}
    )
    events.Reload()
    return events


def sizes(events: EventAccumulator, tag: str) -> list[tuple[int, int]]:
    return [(e.width, e.height) for e in events.Images(tag)]


def picture(events: EventAccumulator, tag: str) -> np.ndarray:
    """The last image written under `tag`, decoded: (H, W, 3) uint8."""
    encoded = events.Images(tag)[-1].encoded_image_string
    return np.asarray(Image.open(io.BytesIO(encoded)).convert("RGB"))


def pr_counts(events: EventAccumulator, tag: str) -> np.ndarray:
    """The PR curve's (TP, FP, TN, FN, precision, recall) x thresholds table."""
    from tensorboard.util import tensor_util

    return tensor_util.make_ndarray(events.Tensors(tag)[-1].tensor_proto)


def checkpoint(path: Path) -> dict[str, Any]:
    return torch.load(path, weights_only=True)


# -- end to end: digits (multi-class) -----------------------------------------------------
@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("digits_diagnostics")
    return out, train(out, "callbacks=diagnostics", *FEW, *DIGITS)


def test_callbacks_diagnostics_adds_to_the_default_callbacks(tmp_path: Path) -> None:
    default = make_cfg(tmp_path).callbacks
    with_diagnostics = make_cfg(tmp_path, "callbacks=diagnostics").callbacks
    assert list(with_diagnostics) == [*default, "diagnostics", "device_stats"]
    for name in default:
        assert with_diagnostics[name] == default[name]
    assert with_diagnostics.device_stats.cpu_stats is True
    assert isinstance(instantiate(with_diagnostics.diagnostics), Diagnostics)


def test_digits_run_writes_every_view(digits_run: tuple[Path, dict[str, Any]]) -> None:
    out, metrics = digits_run
    cfg = make_cfg(out, "callbacks=diagnostics", *FEW, *DIGITS)
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    net = instantiate(cfg.model)
    image = datamodule.splits["val"][0][0]  # (1, 16, 16)
    events = read_events(out)
    images = set(events.Tags()["images"])
    steps = 3  # limit_train_batches: global steps per epoch

    # the first training batch: min(32, batch_size 64) images of 16 px, enlarged to 32
    side = enlarged(16)
    assert sizes(events, "diagnostics/train_batch") == [
        grid_size(KNOBS.num_train_images, side, side)
    ]
    # conv1's 64 filters (small stem: 3x3), once per epoch, at each epoch's first step
    conv = net.conv1.weight
    kernel = enlarged(conv.shape[-1])
    filters = events.Images("diagnostics/conv1_filters")
    assert [e.step for e in filters] == [0, steps]
    assert (
        sizes(events, "diagnostics/conv1_filters") == [grid_size(conv.shape[0], kernel, kernel)] * 2
    )
    # layer1..layer4 of the first fixed val image, 16 channels each, every val epoch
    layers = layer_sides(net, image)
    assert list(layers) == ["layer1", "layer2", "layer3", "layer4"]
    for name, s in layers.items():
        tag = f"diagnostics/features/{name}"
        assert [e.step for e in events.Images(tag)] == [steps, 2 * steps]
        assert sizes(events, tag) == [grid_size(KNOBS.num_channels, enlarged(s), enlarged(s))] * 2
    # predictions on 16 fixed val images (2 caption lines), every val epoch
    tag = "diagnostics/val_predictions"
    assert [e.step for e in events.Images(tag)] == [steps, 2 * steps]
    assert sizes(events, tag) == [captioned_size(KNOBS.num_samples, views.MULTICLASS_LINES)] * 2
    # occlusion: image + map per sample, two per row, once at the end of fit
    tag = "diagnostics/occlusion"
    assert [e.step for e in events.Images(tag)] == [2 * steps]
    expected = grid_size(
        2 * KNOBS.occlusion_samples, TILE + views.OCCLUSION_LINES * render.LINE, TILE, ncol=2
    )
    assert sizes(events, tag) == [expected]

    # test: the tested images are the first limit_test_batches batches of the test split
    confusion = np.array(metrics["test/confusion"])  # the task's own count, rows: true
    tested = int(confusion.sum())
    assert tested == min(2 * 64, len(datamodule.splits["test"]))
    mistakes = tested - int(np.trace(confusion))
    assert mistakes > 0  # three steps of training leave some
    shown = min(KNOBS.num_mistakes, mistakes)
    assert sizes(events, "diagnostics/confident_mistakes") == [
        captioned_size(shown, views.MISTAKE_LINES)
    ]
    names = [str(c) for c in range(10)]
    side = render.confusion_margin(names) + 10 * KNOBS.confusion_cell + render.PAD
    assert sizes(events, "diagnostics/confusion_matrix") == [(side, side)]
    # each cell's colour is its share of the true-class row, as the task counted it
    drawn = picture(events, "diagnostics/confusion_matrix")
    margin = render.confusion_margin(names)
    for r in range(10):
        for c in range(10):
            corner = drawn[
                margin + r * KNOBS.confusion_cell + 1, margin + c * KNOBS.confusion_cell + 1
            ]
            share = confusion[r, c] / max(confusion[r].sum(), 1)
            assert np.abs(corner.astype(int) - render.cell_colour(share)).max() <= 1, (r, c)
    # PR curves, one-vs-rest: at the lowest threshold every tested image counts once, and
    # the positives (TP + FN) are the class's test images
    for c in range(10):
        table = pr_counts(events, f"pr/{c}")
        tp, fp, tn, fn = table[:4, 0]
        assert tp + fp + tn + fn == tested and tp + fn == confusion[c].sum()
    assert not {t for t in images if "top10" in t or "bottom10" in t}  # multi-label only

    # parameters and FLOPs: text at fit start, and metrics.json
    params = sum(p.numel() for p in net.parameters())
    assert metrics["model/params"] == metrics["model/params_trainable"] == params
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net.eval()(image[None])
    assert metrics["model/flops_per_image"] == counter.get_total_flops() > 0
    text = events.Tensors("diagnostics/model/text_summary")[0].tensor_proto.string_val[0].decode()
    assert f"| parameters | {params:,} |" in text
    assert f"| FLOPs per image (1x1x16x16) | {metrics['model/flops_per_image']:,} (" in text
    # DeviceStatsMonitor(cpu_stats=True): CPU use per step
    assert any(
        t.startswith("DeviceStatsMonitor") and "cpu_percent" in t for t in events.Tags()["scalars"]
    )


def test_diagnostics_change_nothing_in_training(
    digits_run: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, with_diagnostics = digits_run
    plain = train(tmp_path, *FEW, *DIGITS)
    for key in (
        "train/loss_epoch",
        "val/loss",
        "val/acc",
        "test/loss",
        "test/acc",
        "test/confusion",
    ):
        assert with_diagnostics[key] == plain[key], key
    mine = checkpoint(out / "checkpoints/last.ckpt")
    theirs = checkpoint(tmp_path / "checkpoints/last.ckpt")
    assert mine["state_dict"].keys() == theirs["state_dict"].keys()
    for name, tensor in mine["state_dict"].items():
        assert torch.equal(tensor, theirs["state_dict"][name]), name  # BN statistics included
    # the global torch RNG where the last checkpoint was taken (RNGStateCheckpoint keeps it):
    # no draw of the callback's, even one this training would not feel (train order and
    # augmentation are seeded per sample, and no model here has dropout)
    rng = "RNGStateCheckpoint"
    assert torch.equal(mine["callbacks"][rng]["torch"], theirs["callbacks"][rng]["torch"])


def test_without_tensorboard_it_warns_once_and_still_reports(
    digits_run: tuple[Path, dict[str, Any]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # test-only (train=false) from the run's checkpoint, CSV logger only: no fit start
    out, metrics = digits_run
    with caplog.at_level(logging.WARNING, logger="mlpresets.callbacks.diagnostics"):
        tested = train(
            tmp_path,
            "callbacks=diagnostics",
            "logger=csv",
            *FEW,
            "train=false",
            f"ckpt_path={out / 'checkpoints/last.ckpt'}",
        )
    warnings = [
        r.getMessage() for r in caplog.records if r.name == "mlpresets.callbacks.diagnostics"
    ]
    assert warnings == [
        "callbacks.diagnostics: no TensorBoard logger (logger=tensorboard or many), so no "
        "images; parameters and FLOPs still go to metrics.json"
    ]
    assert not (tmp_path / "tensorboard").exists()
    for key in ("model/params", "model/params_trainable", "model/flops_per_image"):
        assert tested[key] == metrics[key], key


# -- end to end: VOC (multi-label) ---------------------------------------------------------
def test_voc_run_writes_the_multilabel_views(tmp_path: Path) -> None:
    flags = make_voc(tmp_path / "data", n=36, positive=0.4, size=40)
    overrides = [
        "callbacks=diagnostics",
        "data=voc2012",
        f"data.root={tmp_path / 'data'}",
        "model=resnet18",
        "data.image_size=32",
        "data.resize_size=36",
        "data.batch_size=8",
        "data.num_workers=0",
        *FEW,
    ]
    metrics = train(tmp_path / "run", *overrides)
    cfg = make_cfg(tmp_path / "run", *overrides)
    net = instantiate(cfg.model)
    events = read_events(tmp_path / "run")
    images = set(events.Tags()["images"])
    val_ids = sorted(flags)[24:]  # make_voc: the last third is val, which test reads too

    assert sizes(events, "diagnostics/train_batch") == [grid_size(8, 32, 32)]  # one batch of 8
    kernel = enlarged(net.conv1.weight.shape[-1])
    assert sizes(events, "diagnostics/conv1_filters") == [grid_size(64, kernel, kernel)]
    for name, s in layer_sides(net, torch.zeros(3, 32, 32)).items():
        side = enlarged(s)
        assert sizes(events, f"diagnostics/features/{name}") == [
            grid_size(KNOBS.num_channels, side, side)
        ]
    shown = min(KNOBS.num_samples, len(val_ids))
    assert sizes(events, "diagnostics/val_predictions") == [
        captioned_size(shown, views.MULTILABEL_LINES)
    ]
    assert "diagnostics/occlusion" in images
    ranked = min(KNOBS.ranked, len(val_ids))
    for name in VOC_CLASSES:
        for kind in ("top", "bottom"):
            tag = f"diagnostics/{kind}{KNOBS.ranked}/{name}"
            assert sizes(events, tag) == [captioned_size(ranked, views.RANKED_LINES)], tag
        table = pr_counts(events, f"pr/{name}")
        tp, fp, tn, fn = table[:4, 0]
        positives = sum(int(flags[i][VOC_CLASSES.index(name)] == 1) for i in val_ids)
        assert tp + fp + tn + fn == len(val_ids) and tp + fn == positives, name
    assert "diagnostics/confusion_matrix" not in images
    assert "diagnostics/confident_mistakes" not in images
    assert metrics["model/params"] == sum(p.numel() for p in net.parameters())


# -- the pieces on hand-made input ------------------------------------------------------------
def test_grid_places_tiles_row_by_row_with_padding() -> None:
    tiles = np.stack([np.full((3, 4, 3), 10 * (k + 1), np.uint8) for k in range(5)])
    out = render.grid(tiles, ncol=2)
    p = render.PAD
    assert out.shape == (3 * 3 + 4 * p, 2 * 4 + 3 * p, 3)  # 3 rows, 2 columns
    for k in range(5):
        y, x = p + (k // 2) * (3 + p), p + (k % 2) * (4 + p)
        assert (out[y : y + 3, x : x + 4] == 10 * (k + 1)).all(), k
    assert (out[0] == render.PAD_RGB).all() and (out[:, 0] == render.PAD_RGB).all()
    last = out[-3 - p : -p, -4 - p : -p]  # the empty sixth place stays grey
    assert (last == render.PAD_RGB).all()
    with pytest.raises(ValueError, match=r"^grid: no tiles$"):
        render.grid([], 2)
    with pytest.raises(ValueError, match=r"^grid: tile 1 is \(2, 2\), the first is \(3, 4\)$"):
        render.grid([tiles[0], np.zeros((2, 2, 3), np.uint8)], 2)


def test_filters_are_normalized_each_and_enlarged_nearest() -> None:
    w = torch.stack([torch.arange(9.0).view(1, 3, 3), torch.full((1, 3, 3), 7.0)])  # (2, 1, 3, 3)
    scaled = render.normalize_each(w)
    assert scaled[0].min() == 0 and scaled[0].max() == 1 and (scaled[1] == 0).all()
    rgb = render.to_rgb(scaled)
    assert rgb.shape == (2, 3, 3, 3) and (rgb[0, ..., 0] == rgb[0, ..., 2]).all()  # grey
    big = render.upscale(rgb, 32)
    assert big.shape == (2, 33, 33, 3)  # 3 px * ceil(32 / 3) = 11
    assert (big[0, :11, :11] == rgb[0, 0, 0]).all() and (big[0, 22:, 22:] == 255).all()
    # 2 channels: averaged to grey; 3: colour as is
    two = render.to_rgb(torch.tensor([0.0, 1.0]).view(1, 2, 1, 1))
    assert two[0, 0, 0].tolist() == [128, 128, 128]
    three = render.to_rgb(torch.tensor([1.0, 0.0, 0.5]).view(1, 3, 1, 1))
    assert three[0, 0, 0].tolist() == [255, 0, 128]


def test_confusion_image_colours_cells_by_row_share() -> None:
    matrix = torch.tensor([[3, 1], [0, 4]])
    cell = 28
    out = render.confusion_image(matrix, ["cat", "dog"], cell)
    m = render.confusion_margin(["cat", "dog"])
    # room for the longest word, and the corner's two ("pred" over "true") one above the other
    longest = max(render.text_width(s) for s in ("cat", "dog", "true", "pred"))
    assert m == max(longest, 2 * render.LINE) + 2 * render.PAD
    assert out.shape == (m + 2 * cell + render.PAD, m + 2 * cell + render.PAD, 3)

    def corner(r: int, c: int) -> list[int]:
        return out[m + r * cell + 1, m + c * cell + 1].tolist()

    assert corner(1, 0) == [255, 255, 255]  # 0 of 4: white
    assert corner(1, 1) == [8, 48, 107]  # 4 of 4: the darkest blue
    full = np.array([8, 48, 107])
    assert corner(0, 0) == np.round(255 + (full - 255) * 0.75).astype(int).tolist()
    assert corner(0, 1) == np.round(255 + (full - 255) * 0.25).astype(int).tolist()
    # counts are written in the cells: white ink on dark cells, black on light ones
    dark_cell = out[m + cell : m + 2 * cell, m + cell : m + 2 * cell]
    assert (dark_cell.min(axis=-1) > 200).any()
    light_cell = out[m + cell : m + 2 * cell, m : m + cell]
    assert (light_cell.max(axis=-1) < 60).any()
    names_column = out[m:, : m - render.PAD]  # row names: dark text on white
    assert (names_column.max(axis=-1) < 60).any()
    with pytest.raises(ValueError, match=r"^confusion_image: a \(2, 2\) matrix for 3 class names$"):
        render.confusion_image(matrix, ["a", "b", "c"], cell)


def test_captions_frame_and_colour_right_and_wrong() -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    names = ["zero", "one", "two"]
    scores = torch.tensor([0.1, 0.7, 0.2])
    right = views.prediction_tile(image, scores, torch.tensor(1), names, 40, 0.5)
    wrong = views.prediction_tile(image, scores, torch.tensor(2), names, 40, 0.5)
    assert right.shape == wrong.shape == (40 + views.MULTICLASS_LINES * render.LINE, 40, 3)
    assert right[0, 0].tolist() == list(render.GOOD) and wrong[0, 0].tolist() == list(render.BAD)
    assert right[20, 20].tolist() == [0, 0, 0]  # the image inside the frame
    strip = right[40:]

    def has(region: np.ndarray, colour: tuple[int, int, int]) -> bool:
        """Some pixel within 12 levels of `colour` (text is anti-aliased)."""
        return bool((np.abs(region.astype(int) - colour) <= 12).all(axis=-1).any())

    assert has(strip, render.GOOD) and not has(strip, render.BAD)
    assert has(wrong[40 : 40 + render.LINE], render.BAD)  # "one 0.70" in red
    assert has(wrong[40 + render.LINE :], render.TEXT)  # "true two" in white
    # multi-label: green frame only when the predicted set (>= 0.5) is the true set
    label = torch.tensor([0.0, 1.0, 0.0])
    multi = views.prediction_tile(image, scores, label, names, 40, 0.5)
    assert multi.shape == (40 + views.MULTILABEL_LINES * render.LINE, 40, 3)
    assert multi[0, 0].tolist() == list(render.GOOD)
    missed = views.prediction_tile(image, scores, torch.tensor([0.0, 1.0, 1.0]), names, 40, 0.5)
    assert missed[0, 0].tolist() == list(render.BAD)
    assert has(missed[40 + render.LINE : 40 + 2 * render.LINE], render.BAD)  # "(two 0.20)"


def test_heat_overlay_reddens_drops_and_blues_rises() -> None:
    image = np.full((2, 2, 3), 100, np.uint8)
    out = render.heat_overlay(image, torch.tensor([[1.0, 0.0], [-1.0, 0.5]]), alpha=0.5)
    assert out[0, 0].tolist() == [178, 50, 50]
    assert out[0, 1].tolist() == [100, 100, 100]
    assert out[1, 0].tolist() == [50, 50, 178]
    assert out[1, 1].tolist() == [139, 75, 75]


def test_rankings_mistakes_and_the_explained_class() -> None:
    scores = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.55, 0.45]])
    targets = torch.tensor([1, 1, 1, 0, 0])
    assert views.confident_mistakes(scores, targets, 2) == [0, 3]  # 0.9 then 0.7
    assert views.confident_mistakes(scores, targets, 9) == [0, 3, 2]
    assert views.confusion(scores, targets).tolist() == [[1, 1], [2, 1]]
    top, bottom = views.ranked(torch.tensor([0.2, 0.9, 0.2, 0.5]), 3)
    assert top == [1, 3, 0] and bottom == [2, 0, 3]  # bottom: the top order reversed
    assert views.explained_class(torch.tensor([0.9, 0.3, 0.6]), torch.tensor(1)) == 1
    assert views.explained_class(torch.tensor([0.9, 0.3, 0.6]), torch.tensor([0.0, 1.0, 1.0])) == 2
    assert views.explained_class(torch.tensor([0.2, 0.3, 0.6]), torch.zeros(3)) == 2


def test_occlusion_finds_the_region_the_score_depends_on() -> None:
    def scores(batch: torch.Tensor) -> torch.Tensor:
        # class 0's score is the mean of the top-left 4x4 corner of channel 0
        corner = batch[:, 0, :4, :4].mean(dim=(1, 2))
        return torch.stack([corner, 1 - corner], dim=1)

    image = torch.ones(2, 8, 8)
    base, drop = probes.occlusion(scores, image, 0, patch=4, stride=4, batch_size=3)
    assert base == 1.0 and drop.shape == (8, 8)
    assert (drop[:4, :4] == 1).all()  # hiding the corner takes the whole score away
    drop[:4, :4] = 0
    assert (drop == 0).all()  # hiding anything else changes nothing
    # overlapping patches: each pixel averages the drops of the patches covering it
    _, drop = probes.occlusion(scores, image, 0, patch=4, stride=2)
    assert drop[0, 0] == 1 and drop[7, 7] == 0
    assert drop[3, 3] == pytest.approx((1 + 0.5 + 0.5 + 0.25) / 4)
    assert probes.patch_starts(10, 4, 4) == [0, 4, 6]  # the last patch flush with the edge
    with pytest.raises(ValueError, match=r"^occlusion: patch 9 px for a 8x8 image$"):
        probes.occlusion(scores, image, 0, patch=9, stride=1)


def test_flops_and_params_of_one_conv() -> None:
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, bias=False), nn.Linear(8, 4))
    net[1].requires_grad_(False)
    assert probes.count_params(net) == (2 * 3 * 9 + 8 * 4 + 4, 2 * 3 * 9)
    conv = nn.Conv2d(2, 3, 3, padding=1, bias=False)
    # one multiply-add (2 FLOPs) per output pixel, output channel and 2x3x3 kernel weight
    assert probes.flops_per_image(conv, torch.zeros(1, 2, 8, 8)) == 2 * (3 * 8 * 8) * (2 * 3 * 3)


def test_observing_leaves_modes_rng_and_autograd_as_they_were() -> None:
    class Draws(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bn = nn.BatchNorm1d(2)
            self.head = nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.bn(x)) + torch.rand(1)  # a forward that draws

    net = Draws()
    net.train()
    net.head.eval()  # a mixed state, which module.train() alone would not restore
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    with probes.observing(net):
        assert not net.training and not net.bn.training and not torch.is_grad_enabled()
        out = net(torch.randn(4, 2))
        stats = net.bn.running_mean.clone()
    assert not out.requires_grad and torch.equal(stats, torch.zeros(2))  # eval: BN untouched
    assert torch.equal(torch.rand(3), expected)  # the global stream as if nothing ran
    assert net.training and net.bn.training and not net.head.training


def test_feature_maps_hook_the_layers_and_remove_the_hooks() -> None:
    net = nn.Module()
    net.layer1 = nn.Conv2d(1, 2, 3, padding=1)
    net.layer3 = nn.Conv2d(2, 4, 3, stride=2, padding=1)

    def forward(x: torch.Tensor) -> torch.Tensor:
        return net.layer3(net.layer1(x)).mean(dim=(2, 3))

    out, maps = probes.feature_maps(net, forward, torch.zeros(1, 1, 8, 8))
    assert out.shape == (1, 4) and list(maps) == ["layer1", "layer3"]
    assert maps["layer1"].shape == (1, 2, 8, 8) and maps["layer3"].shape == (1, 4, 4, 4)
    assert not net.layer1._forward_hooks and not net.layer3._forward_hooks
    assert probes.first_conv(net) is net.layer1


@pytest.mark.parametrize(
    ("knob", "value", "message"),
    [
        ("num_samples", 0, "callbacks.diagnostics.num_samples=0: must be an integer >= 1"),
        ("ncol", 2.5, "callbacks.diagnostics.ncol=2.5: must be an integer >= 1"),
        ("tile_size", True, "callbacks.diagnostics.tile_size=True: must be an integer >= 1"),
        (
            "occlusion_samples",
            -1,
            "callbacks.diagnostics.occlusion_samples=-1: must be an integer >= 0",
        ),
        (
            "occlusion_patch",
            1.5,
            "callbacks.diagnostics.occlusion_patch=1.5: must be in (0, 1], a fraction of the image side",
        ),
        (
            "occlusion_stride",
            0,
            "callbacks.diagnostics.occlusion_stride=0: must be in (0, 1], a fraction of the image side",
        ),
        ("threshold", 1.0, "callbacks.diagnostics.threshold=1.0: must be in (0, 1)"),
    ],
)
def test_bad_knobs_are_named(knob: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        Diagnostics(**{knob: value})
