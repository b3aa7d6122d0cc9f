"""ImageClassifier: multi-class (cross-entropy) or multi-label (BCE) training of any `net`."""

from __future__ import annotations

import logging
from typing import Any, cast

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
import torchmetrics
from torch import nn
from torchmetrics.classification import MultilabelAveragePrecision
from torchmetrics.functional.classification import multilabel_average_precision

from mlpresets.errors import ConfigError
from mlpresets.optim import OptimizerSpec, SchedulerSpec, fill_auto, param_groups

log = logging.getLogger(__name__)


TASKS = ("multiclass", "multilabel")


class ImageClassifier(pl.LightningModule):
    """Image classification, one class per image (multiclass) or several (multilabel).

    multiclass: cross-entropy; logs train/loss, train/acc, val/loss, val/acc (+ val/acc_best),
    test/acc, test/acc_top5, test/f1_macro, per-class test accuracy and, at test end, a
    confusion matrix kept in `self.test_confusion` for metrics.json.
    multilabel: BCE-with-logits on multi-hot (B, C) targets, with `pos_weight=auto` weighting
    each class's positives by its negatives/positives ratio in the train labels; logs
    train/loss, val/loss, val/mAP (+ val/mAP_best), test/mAP and per-class test/ap_class/*.
    Both keep the test set's probabilities (`test_scores`, (N, C)) and targets
    (`test_targets`) in test-set order for the run's reports (predictions/, tail accuracy).
    Only primitive hyper-parameters are saved, so checkpoints load with
    torch.load(weights_only=True).
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerSpec,
        scheduler: SchedulerSpec | None = None,
        num_classes: int = 10,
        task: str = "multiclass",
        label_smoothing: float = 0.0,
        head_lr_mult: float = 1.0,
        channels_last: bool = False,
        pos_weight: str = "none",
    ) -> None:
        super().__init__()
        if task not in TASKS:
            raise ConfigError(f"task.task={task}: must be one of {', '.join(TASKS)}")
        if pos_weight not in ("none", "auto"):
            raise ConfigError(f"task.pos_weight={pos_weight}: must be 'none' or 'auto'")
        if pos_weight == "auto" and task != "multilabel":
            raise ConfigError("task.pos_weight=auto: only for task.task=multilabel")
        # Primitive values only; the full config goes to the hparams tab at the end of run().
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"], logger=False)
        self.net = net
        self.optimizer_spec = optimizer
        self.scheduler_spec = scheduler
        self.num_classes = num_classes
        self.multilabel = task == "multilabel"
        self.auto_pos_weight = pos_weight == "auto"
        # (C,) set from the train labels in setup(); not saved: it is recomputed every run.
        self.pos_weight: torch.Tensor | None
        self.register_buffer("pos_weight", None, persistent=False)
        self.label_smoothing = label_smoothing
        self.head_lr_mult = head_lr_mult
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.net.to(memory_format=torch.channels_last)

        if self.multilabel:
            self._multilabel_metrics(num_classes)
        else:
            self._multiclass_metrics(num_classes)
        # Persistent (saved in checkpoints): a run resumed mid-epoch reports the same epoch
        # means as an uninterrupted one, not a mean over the batches after the resume.
        self.train_loss = torchmetrics.MeanMetric()
        self.train_loss.persistent(True)
        self.test_confusion: list[list[int]] | None = None
        self.test_per_class: list[float] | None = None
        self.test_scores: torch.Tensor | None = None  # (N, C) probabilities, test-set order
        self.test_targets: torch.Tensor | None = None  # (N,) class indices or (N, C) multi-hot
        self._test_outputs: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.train_samples = 0  # seen by this process in this fit, for train_samples_per_s

    def _multiclass_metrics(self, num_classes: int) -> None:
        def acc(**kw: Any) -> torchmetrics.Metric:
            return torchmetrics.Accuracy(task="multiclass", num_classes=num_classes, **kw)

        self.train_acc = acc()
        self.train_acc.persistent(True)
        self.val_acc = acc()
        self.test_acc = acc()
        self.test_acc_top5 = acc(top_k=min(5, num_classes))
        self.test_f1 = torchmetrics.F1Score(
            task="multiclass", num_classes=num_classes, average="macro"
        )
        self.test_acc_per_class = acc(average="none")
        self.test_confmat = torchmetrics.ConfusionMatrix(task="multiclass", num_classes=num_classes)
        self.val_acc_best = torchmetrics.MaxMetric()
        self.val_acc_best.persistent(True)  # resume= keeps the best-so-far

    def _multilabel_metrics(self, num_classes: int) -> None:
        self.val_map = MultilabelAveragePrecision(num_labels=num_classes, average="macro")
        self.val_map_best = torchmetrics.MaxMetric()
        self.val_map_best.persistent(True)

    def setup(self, stage: str) -> None:
        if not self.auto_pos_weight or self.pos_weight is not None:
            return
        datamodule = self.trainer.datamodule  # type: ignore[attr-defined]
        frequencies = getattr(datamodule, "label_frequencies", None)
        if frequencies is None:
            raise ConfigError(
                f"task.pos_weight=auto: {type(datamodule).__name__} has no train label "
                "frequencies (label_frequencies())"
            )
        freq = frequencies().float()  # (C,) fraction of train images containing each class
        absent = [c for c, f in enumerate(freq.tolist()) if f <= 0.0]
        if absent:
            log.warning("task.pos_weight=auto: classes %s have no train positives", absent)
        # negatives / positives per class; 1 where a class never (or always) occurs
        weight = torch.where((freq > 0) & (freq < 1), (1 - freq) / freq.clamp(min=1e-12), 1.0)
        self.pos_weight = weight.to(self.device)
        log.info("pos_weight %s", ", ".join(f"{w:.2f}" for w in weight.tolist()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=self.memory_format)  # (B, C, H, W)
        return self.net(x)  # (B, num_classes)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch  # (B, C, H, W), (B,) class indices or (B, num_classes) multi-hot
        self._check_targets(y)
        logits = self(x)  # (B, num_classes)
        if not self.multilabel:
            return F.cross_entropy(logits, y, label_smoothing=self.label_smoothing), logits
        target = y.float() * (1 - self.label_smoothing) + self.label_smoothing / 2  # (B, C)
        loss = F.binary_cross_entropy_with_logits(logits, target, pos_weight=self.pos_weight)
        return loss, logits

    def _check_targets(self, y: torch.Tensor) -> None:
        if self.multilabel and (y.ndim != 2 or y.shape[1] != self.num_classes):
            raise ConfigError(
                f"task.task=multilabel: the data gives labels of shape {tuple(y.shape)}, "
                f"not multi-hot (batch, {self.num_classes})"
            )
        if not self.multilabel and y.ndim != 1:
            raise ConfigError(
                f"task.task=multiclass: the data gives labels of shape {tuple(y.shape)} "
                "(multi-hot?); set task.task=multilabel"
            )

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, C) logits -> (B, C) sigmoid (multilabel) or softmax (multiclass) scores."""
        return logits.sigmoid() if self.multilabel else logits.softmax(dim=1)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss, logits = self._step(batch)
        self.train_samples += len(batch[1])
        self.train_loss(loss)
        self.log("train/loss", self.train_loss, on_step=True, on_epoch=True, prog_bar=True)
        if not self.multilabel:
            self.train_acc(logits, batch[1])
            self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
        self.log("lr", self.optimizers().param_groups[0]["lr"], on_step=True, on_epoch=False)  # type: ignore[union-attr]
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        loss, logits = self._step(batch)
        self.log("val/loss", loss, on_epoch=True, sync_dist=True)
        if self.multilabel:
            self.val_map.update(logits, batch[1].long())
        else:
            self.val_acc(logits, batch[1])
            self.log("val/acc", self.val_acc, on_epoch=True, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        if self.multilabel:
            # computed here rather than logged as a metric object: AP needs every score
            value = self.val_map.compute()
            self.val_map.reset()
            self.log("val/mAP", value, prog_bar=True, sync_dist=True)
            if not self.trainer.sanity_checking:
                self.val_map_best(value)
                self.log("val/mAP_best", self.val_map_best.compute(), sync_dist=True)
            return
        if self.trainer.sanity_checking:
            return
        self.val_acc_best(self.val_acc.compute())
        self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True)

    def on_train_epoch_start(self) -> None:
        # A new epoch (never called for the epoch a mid-epoch checkpoint resumes): the
        # persistent epoch means start empty, also after resuming an end-of-epoch checkpoint
        # that saved them full.
        self.train_loss.reset()
        if not self.multilabel:
            self.train_acc.reset()

    def on_train_start(self) -> None:
        # The sanity check must not count as a validation epoch for the best-so-far.
        if not self.multilabel:
            self.val_acc.reset()

    def on_test_epoch_start(self) -> None:
        self._test_outputs = []

    def test_step(self, batch: Any, batch_idx: int) -> None:
        loss, logits = self._step(batch)
        y = batch[1].long() if self.multilabel else batch[1]  # AP wants integer targets
        for metric in self._test_metrics():
            metric.update(logits, y)
        self._test_outputs.append((self.probabilities(logits).detach(), batch[1].detach()))
        self.log("test/loss", loss, on_epoch=True, sync_dist=True)

    def on_test_epoch_end(self) -> None:
        self.test_scores, self.test_targets = self._gather_test_outputs()
        if self.multilabel:
            self._multilabel_test_end(self.test_scores, self.test_targets.long())
        else:
            self._multiclass_test_end()
        for metric in self._test_metrics():
            metric.reset()

    def _gather_test_outputs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All test probabilities and targets, in test-set order, on every rank."""
        scores = torch.cat([s for s, _ in self._test_outputs])  # (n, C) this rank's share
        targets = torch.cat([t for _, t in self._test_outputs])  # (n,) or (n, C)
        self._test_outputs = []
        world = self.trainer.world_size
        if world > 1:
            # DistributedSampler(shuffle=False) deals sample i to rank i % world, padding the
            # last round with the first samples: interleave the ranks back, drop the padding.
            loaders = self.trainer.test_dataloaders
            loader = loaders[0] if isinstance(loaders, (list, tuple)) else loaders
            total = len(loader.dataset)  # type: ignore[union-attr]
            gathered = [cast(torch.Tensor, self.all_gather(t)) for t in (scores, targets)]
            # (world, n, ...) -> (n * world, ...) in sample order
            scores, targets = (t.transpose(0, 1).flatten(0, 1)[:total] for t in gathered)
        return scores.float().cpu(), targets.cpu()

    def class_names(self) -> list[str]:
        names = getattr(self.trainer.datamodule, "class_names", None)  # type: ignore[attr-defined]
        return list(names) if names is not None else [str(c) for c in range(self.num_classes)]

    def _multilabel_test_end(self, scores: torch.Tensor, targets: torch.Tensor) -> None:
        # From the gathered scores, not a synced metric state: under DDP the sampler's padding
        # would count some images twice.
        n = self.num_classes
        self.log("test/mAP", multilabel_average_precision(scores, targets, n, average="macro"))
        per_class = multilabel_average_precision(scores, targets, n, average="none")  # (C,)
        for name, ap in zip(self.class_names(), per_class.tolist(), strict=True):
            self.log(f"test/ap_class/{name}", ap)
        self.test_per_class = per_class.tolist()

    def _multiclass_test_end(self) -> None:
        self.log("test/acc", self.test_acc.compute())
        self.log(f"test/acc_top{min(5, self.num_classes)}", self.test_acc_top5.compute())
        self.log("test/f1_macro", self.test_f1.compute())
        per_class = self.test_acc_per_class.compute()  # (num_classes,)
        for c, a in enumerate(per_class.tolist()):
            self.log(f"test/acc_class/{c}", a)
        self.test_per_class = per_class.tolist()
        self.test_confusion = self.test_confmat.compute().long().tolist()  # (C, C) rows: true

    def _test_metrics(self) -> tuple[torchmetrics.Metric, ...]:
        if self.multilabel:
            return ()  # computed from the gathered scores
        return (
            self.test_acc,
            self.test_acc_top5,
            self.test_f1,
            self.test_acc_per_class,
            self.test_confmat,
        )

    def configure_optimizers(self) -> Any:
        spec = self.optimizer_spec
        defaults = spec.factory.keywords if hasattr(spec.factory, "keywords") else {}
        head = self.net.get_submodule("fc") if hasattr(self.net, "fc") else None
        groups = param_groups(
            self.net,
            head,
            lr=float(defaults.get("lr", 1e-3)),
            weight_decay=float(defaults.get("weight_decay", 0.0)),
            decay_norm_and_bias=spec.decay_norm_and_bias,
            head_lr_mult=self.head_lr_mult,
        )
        optimizer = spec.factory(groups)
        if self.scheduler_spec is None:
            return optimizer
        total = int(self.trainer.estimated_stepping_batches)
        epochs = max(1, int(self.trainer.max_epochs or 1))
        factory = fill_auto(
            self.scheduler_spec.factory,
            total_steps=total,
            steps_per_epoch=max(1, total // epochs),
        )
        try:
            scheduler = factory(optimizer)
        except ZeroDivisionError:
            # OneCycleLR divides by (pct_start * total_steps - 1): 0 for e.g. 4 steps at 0.25.
            name = getattr(factory, "func", factory).__name__
            raise ConfigError(
                f"scheduler: {name} cannot schedule {total} total steps; "
                "train for more steps or change its phase lengths"
            ) from None
        config: dict[str, Any] = {
            "scheduler": scheduler,
            "interval": self.scheduler_spec.interval,
            "name": "lr-sched",
        }
        if self.scheduler_spec.monitor:
            config["monitor"] = self.scheduler_spec.monitor
        return {"optimizer": optimizer, "lr_scheduler": config}
