"""Build the Lightning Trainer from `conf/trainer`, keeping 1.x names working everywhere.

- `ddp` asks for GPUs; with none visible it runs as `ddp_cpu` (CPU processes) and says so.
- `gpu` with no GPU runs on the CPU and says so.
- `dp` (gone from Lightning 2.x) becomes our DataParallelStrategy.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelSummary, ProgressBar

from mlpresets.checkpoint import SafeCheckpointIO
from mlpresets.strategies import DataParallelStrategy

log = logging.getLogger(__name__)


def resolve_devices(cfg: dict[str, Any], cuda_count: int) -> dict[str, Any]:
    """Apply the no-GPU fallbacks to a plain trainer config (returned as a new dict)."""
    cfg = dict(cfg)
    fallback = cfg.pop("fallback_devices", 2)
    wants_gpu = cfg.get("accelerator") in ("gpu", "cuda")
    strategy = cfg.get("strategy")
    if wants_gpu and cuda_count == 0:
        if strategy == "ddp":
            log.warning(
                "trainer=ddp: no GPU visible, running as ddp_cpu with %d CPU processes", fallback
            )
            cfg.update(accelerator="cpu", devices=fallback)
        else:
            log.warning(
                "trainer.accelerator=%s: no GPU visible, running on the CPU", cfg["accelerator"]
            )
            cfg.update(accelerator="cpu", devices=1)
    on_cpu = cfg.get("accelerator") == "cpu" or (
        cfg.get("accelerator") == "auto" and cuda_count == 0
    )
    if on_cpu and str(cfg.get("precision")) in ("16-mixed", "16"):
        log.warning(
            "trainer.precision=%s: float16 AMP needs a GPU, using bf16-mixed on the CPU",
            cfg["precision"],
        )
        cfg["precision"] = "bf16-mixed"
    if strategy == "dp":
        # devices becomes the concrete number of GPUs DataParallel spreads each batch over.
        gpus = cuda_count if cfg.get("devices") in (-1, "auto") else int(cfg.get("devices") or 1)
        if cfg["accelerator"] == "cpu":
            gpus = 0
        if gpus < 2:
            log.warning("trainer.strategy=dp: fewer than 2 GPUs, running on one device")
        cfg["devices"] = gpus
    return cfg


def build_trainer(cfg: DictConfig, callbacks: list[pl.Callback], loggers: list[Any]) -> pl.Trainer:
    plain = cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True))
    plain = resolve_devices(plain, torch.cuda.device_count())
    # The trainer flags are the switches for display callbacks: with rich installed,
    # Lightning would otherwise re-add its own bar when the callback is nulled, and refuse a
    # configured bar when the flag is off.
    if not plain.get("enable_progress_bar", True):
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    if not plain.get("enable_model_summary", True):
        callbacks = [c for c in callbacks if not isinstance(c, ModelSummary)]
    plugins = [SafeCheckpointIO()]
    if plain.get("strategy") == "dp":
        gpus = [torch.device("cuda", i) for i in range(plain["devices"])]
        devices = gpus or [torch.device("cpu")]
        plain["strategy"] = DataParallelStrategy(devices, checkpoint_io=plugins.pop())
        plain["devices"] = 1  # one process; DataParallel fans out inside it
    trainer: pl.Trainer = instantiate(
        plain, callbacks=callbacks, logger=loggers or False, plugins=plugins
    )
    return trainer


# What Lightning's DDP launcher leaves in os.environ of the launching process.
_DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


@contextmanager
def relaunch_as_this_job() -> Iterator[None]:
    """Let one process run several DDP jobs of a sweep, each re-launching just itself.

    Lightning starts ranks > 0 as `sys.argv + hydra.run.dir=<hydra.run.dir>`. In a multirun
    job that would start the whole sweep again in a new directory: for the job, argv becomes
    this job's own overrides and run.dir its output dir. Afterwards the process group is
    destroyed and the launcher's environment (LOCAL_RANK, MASTER_PORT...) removed, or the next
    job would take LOCAL_RANK as "launched externally" and reuse a dead group."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict, read_write

    from mlpresets.cli import in_multirun

    if not in_multirun():
        yield
        return
    hydra_cfg = cast(DictConfig, HydraConfig.get())  # a DictConfig typed as its dataclass
    saved_argv, saved_dir = list(sys.argv), hydra_cfg.run.dir
    saved_env = {k: os.environ.pop(k) for k in _DDP_ENV if k in os.environ}
    sys.argv = [sys.argv[0], *hydra_cfg.overrides.task]
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir
    try:
        yield
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        for k in _DDP_ENV:
            os.environ.pop(k, None)
        os.environ.update(saved_env)
        sys.argv = saved_argv
        with read_write(hydra_cfg), open_dict(hydra_cfg):
            hydra_cfg.run.dir = saved_dir
