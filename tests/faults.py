"""Callbacks that inject real faults into a training process (added with +callbacks.fault=...)."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytorch_lightning as pl


class SignalAt(pl.Callback):
    """Send `signal` (a name: SIGTERM, SIGINT, SIGKILL) to this process after global step `step`.

    `times` > 1 sends it again that many times (a user pressing Ctrl-C twice).
    """

    def __init__(self, step: int, signal: str = "SIGTERM", times: int = 1) -> None:
        self.step = step
        self.signum = getattr(signal_module, signal)
        self.times = times

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if trainer.global_step == self.step:
            for _ in range(self.times):
                os.kill(os.getpid(), self.signum)


signal_module = signal


class KillDuringSave(pl.Callback):
    """SIGKILL this process inside the checkpoint write at global step `step`: after the bytes
    reach the temporary file, before it is fsynced and renamed over last.ckpt."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if trainer.global_step != self.step:
            return
        import mlpresets.checkpoint as ckpt

        def die(fd: int) -> None:
            os.kill(os.getpid(), signal.SIGKILL)

        ckpt.os.fsync = die  # type: ignore[assignment]  # the next fsync is the temp file's
