"""`dp`: Lightning 1.x's DataParallel strategy, which 2.x removed, for the task's `net`.

One process drives every visible GPU: the task's `net` is wrapped in torch.nn.DataParallel,
so each batch is scattered across the GPUs and the logits gathered on the first; the loss,
metrics and optimizer step happen once, on that device. Checkpoints keep the unwrapped
parameter names, so they load with any other strategy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.strategies import SingleDeviceStrategy
from torch import nn


class DataParallelStrategy(SingleDeviceStrategy):
    strategy_name = "dp"

    def __init__(self, parallel_devices: list[torch.device], **kwargs: Any) -> None:
        super().__init__(device=parallel_devices[0], **kwargs)
        self.parallel_devices = parallel_devices

    def setup(self, trainer: pl.Trainer) -> None:
        super().setup(trainer)
        module = self.lightning_module
        assert module is not None
        net = module.get_submodule("net")
        if not isinstance(net, nn.DataParallel):
            ids = [d.index for d in self.parallel_devices if d.type == "cuda"]
            module.net = nn.DataParallel(net, device_ids=ids or None)

    @contextmanager
    def _unwrapped(self) -> Iterator[None]:
        module = self.lightning_module
        wrapped = getattr(module, "net", None)
        if not isinstance(wrapped, nn.DataParallel):
            yield
            return
        module.net = wrapped.module  # type: ignore[union-attr]
        try:
            yield
        finally:
            module.net = wrapped  # type: ignore[union-attr]

    def lightning_module_state_dict(self) -> dict[str, Any]:
        with self._unwrapped():
            return super().lightning_module_state_dict()

    def load_model_state_dict(self, checkpoint: Mapping[str, Any], strict: bool = True) -> None:
        with self._unwrapped():
            super().load_model_state_dict(checkpoint, strict=strict)

    def teardown(self) -> None:
        module = self.lightning_module
        wrapped = getattr(module, "net", None)
        if module is not None and isinstance(wrapped, nn.DataParallel):
            module.net = wrapped.module
        super().teardown()
