"""`callbacks=diagnostics`: what the network sees, learns and gets wrong, as TensorBoard images.

Writes under `diagnostics/` (images, text) and `pr/` (PR curves) through the run's
TensorBoardLogger, on rank zero only. It never changes training: every forward of its own
runs through probes.observing (eval mode, no autograd, the RNG streams untouched, each
submodule's train/eval flag restored), so a run with it ends with the same weights.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger

from mlpresets.callbacks import probes, render, views
from mlpresets.errors import ConfigError

log = logging.getLogger(__name__)

KEY = "callbacks.diagnostics"


class Diagnostics(pl.Callback):
    """Images of the data, filters, features, predictions, mistakes and occlusion maps.

    - first training batch as fed to the net (de-normalized): diagnostics/train_batch
    - first conv's filters at each train epoch start: diagnostics/conv1_filters
    - layer1..layer4 feature maps of one fixed val image, each val epoch:
      diagnostics/features/<layer>
    - predictions on fixed val images, each val epoch: diagnostics/val_predictions
    - occlusion sensitivity of a few of them at the end of fit: diagnostics/occlusion
    - at test end, multi-class: diagnostics/confident_mistakes, diagnostics/confusion_matrix;
      multi-label: diagnostics/top{k}/<class>, diagnostics/bottom{k}/<class>; both: pr/<class>
    - parameter count and FLOPs per image: diagnostics/model (text) and `report()`, which
      run() merges into metrics.json (also without a TensorBoard logger).
    """

    def __init__(
        self,
        num_samples: int = 16,
        num_train_images: int = 32,
        num_channels: int = 16,
        num_mistakes: int = 16,
        ranked: int = 10,
        ncol: int = 8,
        tile_size: int = 96,
        min_tile_px: int = 32,
        threshold: float = 0.5,
        occlusion_samples: int = 4,
        occlusion_patch: float = 0.25,
        occlusion_stride: float = 0.125,
        confusion_cell: int = 28,
    ) -> None:
        for name, value, low in (
            ("num_samples", num_samples, 1),
            ("num_train_images", num_train_images, 1),
            ("num_channels", num_channels, 1),
            ("num_mistakes", num_mistakes, 1),
            ("ranked", ranked, 1),
            ("ncol", ncol, 1),
            ("tile_size", tile_size, 1),
            ("min_tile_px", min_tile_px, 1),
            ("confusion_cell", confusion_cell, 1),
            ("occlusion_samples", occlusion_samples, 0),  # 0: no occlusion maps
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{KEY}.{name}={value}: must be an integer >= {low}")
        for name, fraction in (
            ("occlusion_patch", occlusion_patch),
            ("occlusion_stride", occlusion_stride),
        ):
            if not 0 < fraction <= 1:
                raise ConfigError(
                    f"{KEY}.{name}={fraction}: must be in (0, 1], a fraction of the image side"
                )
        if not 0 < threshold < 1:
            raise ConfigError(f"{KEY}.threshold={threshold}: must be in (0, 1)")
        self.num_samples = num_samples
        self.num_train_images = num_train_images
        self.num_channels = num_channels
        self.num_mistakes = num_mistakes
        self.ranked = ranked
        self.ncol = ncol
        self.tile_size = tile_size
        self.min_tile_px = min_tile_px
        self.threshold = threshold
        self.occlusion_samples = occlusion_samples
        self.occlusion_patch = occlusion_patch
        self.occlusion_stride = occlusion_stride
        self.confusion_cell = confusion_cell
        self._stats: dict[str, int | float] = {}
        self._warned = False  # about a missing TensorBoard logger, once
        self._train_batch_done = False

    def report(self) -> dict[str, int | float]:
        """model/params, model/params_trainable, model/flops_per_image (for metrics.json)."""
        return dict(self._stats)

    # -- hooks ------------------------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._measure(trainer, pl_module)

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._stats:  # a test-only run (train=false) has no fit start
            self._measure(trainer, pl_module)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        if self._train_batch_done:
            return
        self._train_batch_done = True
        writer = self._writer(trainer)
        if writer is None:
            return
        x = batch[0][: self.num_train_images]  # (n, C, H, W) normalized, on the device
        tiles = render.upscale(self._pictures(trainer, x), self.min_tile_px)
        self._image(writer, trainer, "diagnostics/train_batch", render.grid(tiles, self.ncol))

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer = self._writer(trainer)
        conv = probes.first_conv(self._net(pl_module))
        if writer is None or conv is None:
            return
        filters = render.normalize_each(conv.weight.detach())  # (out, in, k, k) each in [0, 1]
        tiles = render.upscale(render.to_rgb(filters), self.min_tile_px)
        self._image(writer, trainer, "diagnostics/conv1_filters", render.grid(tiles, self.ncol))

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer = self._writer(trainer)
        if writer is None or trainer.sanity_checking:
            return
        with probes.observing(pl_module):
            x, y = self._load(trainer, "val", self._fixed(trainer))
            logits, maps = probes.feature_maps(
                self._net(pl_module),
                pl_module,
                x.to(pl_module.device),
            )
        for name, fmap in maps.items():
            channels = fmap[0, : self.num_channels, None]  # (n, 1, h, w) of the first image
            tiles = render.upscale(render.to_rgb(render.normalize_each(channels)), self.min_tile_px)
            grid = render.grid(tiles, self.ncol)
            self._image(writer, trainer, f"diagnostics/features/{name}", grid)
        scores = self._probabilities(pl_module, logits)  # (N, num_classes)
        names = self._class_names(trainer)
        pictures = self._pictures(trainer, x)
        captioned = [
            views.prediction_tile(
                pictures[i], scores[i], y[i], names, self.tile_size, self.threshold
            )
            for i in range(len(x))
        ]
        grid = render.grid(captioned, self.ncol)
        self._image(writer, trainer, "diagnostics/val_predictions", grid)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer = self._writer(trainer)
        if writer is None or self.occlusion_samples == 0:
            return
        names = self._class_names(trainer)
        tiles = []
        with probes.observing(pl_module):
            x, y = self._load(trainer, "val", self._fixed(trainer)[: self.occlusion_samples])
            side = min(x.shape[-2:])
            patch = max(1, round(self.occlusion_patch * side))
            stride = max(1, round(self.occlusion_stride * side))

            def scores(batch: torch.Tensor) -> torch.Tensor:
                return self._probabilities(pl_module, pl_module(batch.to(pl_module.device)))

            for image, label, picture in zip(x, y, self._pictures(trainer, x), strict=True):
                target = views.explained_class(scores(image[None])[0], label)
                base, drop = probes.occlusion(scores, image, target, patch, stride)  # (H, W)
                tiles += views.occlusion_pair(picture, drop, names[target], base, self.tile_size)
        self._image(writer, trainer, "diagnostics/occlusion", render.grid(tiles, 2))

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # on_test_end, not on_test_epoch_end: the module fills test_scores in its own
        # on_test_epoch_end, which Lightning calls after the callbacks'.
        writer = self._writer(trainer)
        if writer is None:
            return
        scores = getattr(pl_module, "test_scores", None)  # (N, C) probabilities
        targets = getattr(pl_module, "test_targets", None)  # (N,) or (N, C) multi-hot
        if scores is None or targets is None:
            log.warning("%s: %s keeps no test_scores: no test views", KEY, type(pl_module).__name__)
            return
        names = self._class_names(trainer)
        multilabel = self._multilabel(pl_module)
        for c, name in enumerate(names):
            truth = targets[:, c] > 0.5 if multilabel else targets == c  # one-vs-rest
            writer.add_pr_curve(f"pr/{name}", truth, scores[:, c], trainer.global_step)
        with probes.observing(pl_module):
            if multilabel:
                self._ranked(writer, trainer, scores, targets, names)
            else:
                self._mistakes(writer, trainer, scores, targets, names)

    # -- test views -------------------------------------------------------------------
    def _ranked(
        self,
        writer: Any,
        trainer: pl.Trainer,
        scores: torch.Tensor,
        targets: torch.Tensor,
        names: list[str],
    ) -> None:
        """Multi-label: per class, the `ranked` highest- and lowest-scored test images."""
        ids = self._sample_ids(trainer, "test")
        for c, name in enumerate(names):
            top, bottom = views.ranked(scores[:, c], self.ranked)
            for kind, chosen in (("top", top), ("bottom", bottom)):
                tiles = [
                    views.ranked_tile(
                        self._test_picture(trainer, i),
                        ids[i],
                        float(scores[i, c]),
                        bool(targets[i, c] > 0.5),
                        kind == "top",
                        self.tile_size,
                    )
                    for i in chosen
                ]
                grid = render.grid(tiles, self.ncol)
                self._image(writer, trainer, f"diagnostics/{kind}{self.ranked}/{name}", grid)

    def _mistakes(
        self,
        writer: Any,
        trainer: pl.Trainer,
        scores: torch.Tensor,
        targets: torch.Tensor,
        names: list[str],
    ) -> None:
        """Multi-class: the most confident wrong predictions, and the confusion matrix."""
        tiles = [
            views.mistake_tile(
                self._test_picture(trainer, i), scores[i], int(targets[i]), names, self.tile_size
            )
            for i in views.confident_mistakes(scores, targets, self.num_mistakes)
        ]
        if tiles:  # none when every test image is right
            grid = render.grid(tiles, self.ncol)
            self._image(writer, trainer, "diagnostics/confident_mistakes", grid)
        matrix = views.confusion(scores, targets)  # (C, C)
        image = render.confusion_image(matrix, names, self.confusion_cell)
        self._image(writer, trainer, "diagnostics/confusion_matrix", image)

    # -- pieces -----------------------------------------------------------------------
    def _measure(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Parameter counts and FLOPs of one (1, C, H, W) eval forward; diagnostics/model."""
        if not trainer.is_global_zero:
            return
        total, trainable = probes.count_params(pl_module)
        with probes.observing(pl_module):
            x, _ = self._load(trainer, "val", [0])  # (1, C, H, W), the eval image size
            flops = probes.flops_per_image(pl_module, x.to(pl_module.device))
        self._stats = {
            "model/params": total,
            "model/params_trainable": trainable,
            "model/flops_per_image": flops,
        }
        writer = self._writer(trainer)
        if writer is not None:
            shape = "x".join(str(s) for s in x.shape)
            text = (
                "| | |\n|---|---|\n"
                f"| parameters | {total:,} |\n| trainable | {trainable:,} |\n"
                f"| FLOPs per image ({shape}) | {flops:,} ({flops / 1e9:.3f} GFLOPs) |"
            )
            writer.add_text("diagnostics/model", text, trainer.global_step)

    def _writer(self, trainer: pl.Trainer) -> Any:
        """The TensorBoard SummaryWriter on rank zero; None elsewhere or without one (warned)."""
        if not trainer.is_global_zero:
            return None
        tensorboard = next(
            (lg for lg in trainer.loggers if isinstance(lg, TensorBoardLogger)), None
        )
        if tensorboard is None:
            if not self._warned:
                self._warned = True
                log.warning(
                    "%s: no TensorBoard logger (logger=tensorboard or many), so no images; "
                    "parameters and FLOPs still go to metrics.json",
                    KEY,
                )
            return None
        return tensorboard.experiment

    def _image(self, writer: Any, trainer: pl.Trainer, tag: str, image: np.ndarray) -> None:
        writer.add_image(tag, image, trainer.global_step, dataformats="HWC")  # (H, W, 3) uint8

    def _datamodule(self, trainer: pl.Trainer) -> Any:
        data = getattr(trainer, "datamodule", None)
        if not all(hasattr(data, a) for a in ("splits", "mean", "std", "class_names")):
            raise ConfigError(
                f"{KEY}: needs an image datamodule (splits, mean, std, class_names), "
                f"got {type(data).__name__}"
            )
        return data

    def _fixed(self, trainer: pl.Trainer) -> list[int]:
        """num_samples val indices spread evenly over the split: the same images every epoch."""
        n = len(self._datamodule(trainer).splits["val"])
        k = min(self.num_samples, n)
        return [round(i * (n - 1) / max(k - 1, 1)) for i in range(k)]

    def _load(
        self, trainer: pl.Trainer, split: str, indices: list[int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, C, H, W) normalized images and (N,) or (N, num_classes) labels of a split."""
        dataset = self._datamodule(trainer).splits[split]
        items = [dataset[i] for i in indices]
        x = torch.stack([image for image, _ in items])
        y = torch.stack([torch.as_tensor(label) for _, label in items])
        return x, y

    def _pictures(self, trainer: pl.Trainer, x: torch.Tensor) -> np.ndarray:
        """Normalized (N, C, H, W) -> (N, H, W, 3) uint8, with the datamodule's mean/std undone."""
        data = self._datamodule(trainer)
        mean = torch.tensor(data.mean).view(1, -1, 1, 1)
        std = torch.tensor(data.std).view(1, -1, 1, 1)
        return render.to_rgb(x.detach().float().cpu() * std + mean)

    def _test_picture(self, trainer: pl.Trainer, i: int) -> np.ndarray:
        x, _ = self._load(trainer, "test", [i])
        return self._pictures(trainer, x)[0]

    def _sample_ids(self, trainer: pl.Trainer, split: str) -> list[str]:
        data = self._datamodule(trainer)
        ids = getattr(data, "sample_ids", None)
        return ids(split) if callable(ids) else [str(i) for i in range(len(data.splits[split]))]

    def _class_names(self, trainer: pl.Trainer) -> list[str]:
        return list(self._datamodule(trainer).class_names)

    @staticmethod
    def _net(pl_module: pl.LightningModule) -> torch.nn.Module:
        """The backbone (ImageClassifier.net), whose conv1 and layer1..4 are looked at."""
        net = getattr(pl_module, "net", pl_module)
        return net if isinstance(net, torch.nn.Module) else pl_module

    @staticmethod
    def _multilabel(pl_module: pl.LightningModule) -> bool:
        return bool(getattr(pl_module, "multilabel", False))

    def _probabilities(self, pl_module: pl.LightningModule, logits: torch.Tensor) -> torch.Tensor:
        """(B, C) logits -> (B, C) CPU probabilities: sigmoid (multi-label) or softmax."""
        probs = logits.sigmoid() if self._multilabel(pl_module) else logits.softmax(dim=1)
        return probs.float().cpu()
