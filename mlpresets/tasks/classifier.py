"""ImageClassifier: cross-entropy training of any `net`, with torchmetrics at every stage."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
import torchmetrics
from torch import nn

from mlpresets.errors import ConfigError
from mlpresets.optim import OptimizerSpec, SchedulerSpec, fill_auto, param_groups


class ImageClassifier(pl.LightningModule):
    """Multi-class image classification.

    Logs train/loss, train/acc, val/loss, val/acc (+ val/acc_best), test/acc, test/acc_top5,
    test/f1_macro, per-class test accuracy and, at test end, a confusion matrix kept in
    `self.test_confusion` for metrics.json. Only primitive hyper-parameters are saved, so
    checkpoints load with torch.load(weights_only=True).
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
    ) -> None:
        super().__init__()
        if task != "multiclass":
            raise ConfigError(f"task.task={task}: only 'multiclass' is supported so far")
        # Primitive values only; the full config goes to the hparams tab at the end of run().
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"], logger=False)
        self.net = net
        self.optimizer_spec = optimizer
        self.scheduler_spec = scheduler
        self.num_classes = num_classes
        self.label_smoothing = label_smoothing
        self.head_lr_mult = head_lr_mult
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.net.to(memory_format=torch.channels_last)

        def acc(**kw: Any) -> torchmetrics.Metric:
            return torchmetrics.Accuracy(task="multiclass", num_classes=num_classes, **kw)

        self.train_acc = acc()
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
        self.test_confusion: list[list[int]] | None = None
        self.test_per_class: list[float] | None = None
        self.train_samples = 0  # seen by this process in this fit, for train_samples_per_s

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=self.memory_format)  # (B, C, H, W)
        return self.net(x)  # (B, num_classes)

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = batch  # (B, C, H, W), (B,)
        logits = self(x)  # (B, num_classes)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        return loss, logits

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss, logits = self._step(batch)
        self.train_samples += len(batch[1])
        self.train_acc(logits, batch[1])
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True)
        self.log("lr", self.optimizers().param_groups[0]["lr"], on_step=True, on_epoch=False)  # type: ignore[union-attr]
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        loss, logits = self._step(batch)
        self.val_acc(logits, batch[1])
        self.log("val/loss", loss, on_epoch=True, sync_dist=True)
        self.log("val/acc", self.val_acc, on_epoch=True, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        self.val_acc_best(self.val_acc.compute())
        self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True)

    def on_train_start(self) -> None:
        # The sanity check must not count as a validation epoch for the best-so-far.
        self.val_acc.reset()

    def test_step(self, batch: Any, batch_idx: int) -> None:
        loss, logits = self._step(batch)
        y = batch[1]
        for metric in self._test_metrics():
            metric.update(logits, y)
        self.log("test/loss", loss, on_epoch=True, sync_dist=True)

    def on_test_epoch_end(self) -> None:
        self.log("test/acc", self.test_acc.compute())
        self.log(f"test/acc_top{min(5, self.num_classes)}", self.test_acc_top5.compute())
        self.log("test/f1_macro", self.test_f1.compute())
        per_class = self.test_acc_per_class.compute()  # (num_classes,)
        for c, a in enumerate(per_class.tolist()):
            self.log(f"test/acc_class/{c}", a)
        self.test_per_class = per_class.tolist()
        self.test_confusion = self.test_confmat.compute().long().tolist()  # (C, C) rows: true
        for metric in self._test_metrics():
            metric.reset()

    def _test_metrics(self) -> tuple[torchmetrics.Metric, ...]:
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
