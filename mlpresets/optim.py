"""Optimizer parameter groups and LR schedules built from the optimizer/scheduler groups.

The YAML keeps torch's own `_target_`s; the few keys that are ours (`decay_norm_and_bias`,
`interval`, `monitor`, `total_steps: auto`) are taken out here before torch sees them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from torch import nn

from mlpresets.errors import ConfigError

AUTO = "auto"


@dataclass
class OptimizerSpec:
    factory: Callable[..., torch.optim.Optimizer]  # partial(torch.optim.X, lr=..., ...)
    decay_norm_and_bias: bool = False


@dataclass
class SchedulerSpec:
    factory: Callable[..., Any]  # partial(scheduler, ...); keywords equal to "auto" are filled in
    interval: str = "epoch"
    monitor: str | None = None


def optimizer_spec(cfg: DictConfig) -> OptimizerSpec:
    node = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(node, dict)
    decay = bool(node.pop("decay_norm_and_bias", False))
    return OptimizerSpec(factory=instantiate(node), decay_norm_and_bias=decay)


def scheduler_spec(cfg: DictConfig | None) -> SchedulerSpec | None:
    if cfg is None or cfg.get("_target_") is None:
        return None
    node = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(node, dict)
    interval = node.pop("interval", "epoch")
    if interval not in ("epoch", "step"):
        raise ConfigError(f"scheduler.interval={interval}: must be 'epoch' or 'step'")
    monitor = node.pop("monitor", None)
    return SchedulerSpec(factory=instantiate(node), interval=interval, monitor=monitor)


def _is_no_decay(name: str, param: nn.Parameter) -> bool:
    # Biases and norm weights/biases are 1-D; decaying them only fights the normalization.
    return param.ndim <= 1 or name.endswith(".bias")


def param_groups(
    net: nn.Module,
    head: nn.Module | None,
    lr: float,
    weight_decay: float,
    decay_norm_and_bias: bool,
    head_lr_mult: float,
) -> list[dict[str, Any]]:
    """Split trainable parameters into (body|head) x (decay|no-decay) groups.

    Empty groups are dropped; each group carries its own lr and weight_decay so the
    optimizer's defaults never leak into the no-decay or head groups.
    """
    head_ids = {id(p) for p in head.parameters()} if head is not None else set()
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, p in net.named_parameters():
        if not p.requires_grad:
            continue
        key = (id(p) in head_ids, not decay_norm_and_bias and _is_no_decay(name, p))
        groups.setdefault(key, []).append(p)
    out = []
    for (is_head, no_decay), params in sorted(groups.items()):
        out.append(
            {
                "params": params,
                "lr": lr * (head_lr_mult if is_head else 1.0),
                "weight_decay": 0.0 if no_decay else weight_decay,
                "name": ("head" if is_head else "body") + ("/no_decay" if no_decay else ""),
            }
        )
    if not out:
        raise ConfigError("model.freeze: no trainable parameters left")
    return out


def fill_auto(factory: Callable[..., Any], **values: Any) -> Callable[..., Any]:
    """Replace keywords set to "auto" in a partial by the runtime values given here."""
    if not isinstance(factory, functools.partial):
        return factory
    filled = {k: values[k] if v == AUTO and k in values else v for k, v in factory.keywords.items()}
    missing = [k for k, v in filled.items() if v == AUTO]
    if missing:
        raise ConfigError(f"scheduler.{missing[0]}=auto: no runtime value for it")
    return functools.partial(factory.func, *factory.args, **filled)


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    steps_per_epoch: int,
    warmup_epochs: float = 1.0,
    warmup_start_factor: float = 0.01,
    min_lr_ratio: float = 0.0,
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step LR factor: linear warmup, then half a cosine down to min_lr_ratio."""
    warmup = int(round(warmup_epochs * steps_per_epoch))

    def factor(step: int) -> float:
        if step < warmup:
            return warmup_start_factor + (1.0 - warmup_start_factor) * step / warmup
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
