"""Trainer names from Lightning 1.x keep working: fallbacks and our DataParallel strategy."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from torch import nn

from mlpresets.strategies import DataParallelStrategy
from mlpresets.trainer import resolve_devices


def test_ddp_without_gpu_runs_as_ddp_cpu(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        cfg = resolve_devices(
            {"accelerator": "gpu", "devices": -1, "strategy": "ddp", "fallback_devices": 2}, 0
        )
    assert cfg == {"accelerator": "cpu", "devices": 2, "strategy": "ddp"}
    assert caplog.messages == [
        "trainer=ddp: no GPU visible, running as ddp_cpu with 2 CPU processes"
    ]


def test_gpu_without_gpu_runs_on_cpu_and_keeps_gpus_when_present(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        cfg = resolve_devices({"accelerator": "gpu", "devices": 1, "strategy": "auto"}, 0)
    assert cfg["accelerator"] == "cpu" and cfg["devices"] == 1
    assert caplog.messages == ["trainer.accelerator=gpu: no GPU visible, running on the CPU"]
    assert resolve_devices({"accelerator": "gpu", "devices": -1, "strategy": "ddp"}, 8) == {
        "accelerator": "gpu",
        "devices": -1,
        "strategy": "ddp",
    }


def test_dp_resolves_its_gpu_count(caplog: pytest.LogCaptureFixture) -> None:
    dp = {"accelerator": "gpu", "devices": -1, "strategy": "dp"}
    assert resolve_devices(dp, 4)["devices"] == 4
    assert resolve_devices({**dp, "devices": 2}, 4)["devices"] == 2
    with caplog.at_level(logging.WARNING):
        cfg = resolve_devices(dp, 0)
    assert cfg["accelerator"] == "cpu" and cfg["devices"] == 0
    assert caplog.messages[-1] == "trainer.strategy=dp: fewer than 2 GPUs, running on one device"


def test_float16_amp_on_cpu_becomes_bf16(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        cfg = resolve_devices(
            {"accelerator": "cpu", "devices": 1, "strategy": "auto", "precision": "16-mixed"}, 0
        )
    assert cfg["precision"] == "bf16-mixed"
    assert caplog.messages == [
        "trainer.precision=16-mixed: float16 AMP needs a GPU, using bf16-mixed on the CPU"
    ]


def test_dp_strategy_keeps_plain_parameter_names(tmp_path: Path) -> None:
    from tests.conftest import FEW, train

    metrics = train(tmp_path, "trainer=dp", *FEW)  # no GPU: one device, still through the strategy
    state = torch.load(tmp_path / metrics["best_ckpt"], weights_only=True)["state_dict"]
    assert "net.conv1.weight" in state and not any(".module." in k for k in state)


def test_dp_strategy_wraps_the_net_in_data_parallel() -> None:
    import pytorch_lightning as pl

    class Task(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = nn.Linear(3, 2)

    strategy = DataParallelStrategy([torch.device("cpu")])
    task = Task()
    strategy._lightning_module = task
    strategy.model = task
    task.net = nn.DataParallel(task.net)  # what setup() does once the trainer is attached
    assert list(strategy.lightning_module_state_dict()) == ["net.weight", "net.bias"]
    strategy.load_model_state_dict(
        {"state_dict": {"net.weight": torch.ones(2, 3), "net.bias": torch.zeros(2)}}
    )
    assert isinstance(task.net, nn.DataParallel) and torch.equal(
        task.net.module.weight, torch.ones(2, 3)
    )
