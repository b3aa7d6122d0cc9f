"""Stop on a non-finite training loss before it reaches the weights."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch

from mlpresets.errors import ConfigError


class NonFiniteLossError(ConfigError):
    """Raised from on_before_backward: no NaN gradient is applied, checkpoints stay as saved."""


class NonFiniteLossStop(pl.Callback):
    def on_before_backward(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, loss: torch.Tensor
    ) -> None:
        if torch.isfinite(loss).all():
            return
        ckpt = getattr(trainer.checkpoint_callback, "last_model_path", "") or "none saved yet"
        raise NonFiniteLossError(
            f"non-finite training loss ({loss.item()}) at step {trainer.global_step} "
            f"(epoch {trainer.current_epoch}); last good checkpoint kept: {ckpt}"
        )

    def state_dict(self) -> dict[str, Any]:
        return {}
