"""torchvision ResNet-family classifiers with the options a small-image run needs."""

from __future__ import annotations

import functools
import logging
from typing import Any

import torch
import torchvision
from torch import nn

from mlpresets.checkpoint import safe_load, state_dict_from
from mlpresets.errors import ConfigError
from mlpresets.models.ws import apply_conv

log = logging.getLogger(__name__)

ARCHS = (
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "wide_resnet50_2",
    "resnext50_32x4d",
)
BASIC_BLOCK_ARCHS = ("resnet18", "resnet34")  # BasicBlock: torchvision can't dilate these
SMALL_STEM_BELOW = 64  # px: `stem=auto` drops the 7x7/2 conv + maxpool under this size


def group_norm(num_channels: int, groups: int = 32) -> nn.GroupNorm:
    return nn.GroupNorm(min(groups, num_channels), num_channels)


def _norm_layer(norm: str) -> Any:
    if norm == "batch":
        return nn.BatchNorm2d
    if norm == "group":
        return functools.partial(group_norm, groups=32)
    raise ConfigError(f"model.norm={norm}: must be 'batch' or 'group'")


def build_torchvision_resnet(
    arch: str,
    num_classes: int,
    in_channels: int = 3,
    image_size: int = 224,
    stem: str = "auto",
    zero_init_residual: bool = False,
    replace_stride_with_dilation: list[bool] | None = None,
    norm: str = "batch",
    conv: str = "plain",
    pretrained: str | None = None,
    freeze: str = "none",
    head_lr_mult: float = 1.0,
) -> nn.Module:
    """Build torchvision's `arch`, adapt its stem/input channels, load local weights, freeze.

    `head_lr_mult` is stored on the module for the task's optimizer groups; the head is `fc`.
    conv=ws makes every conv weight-standardized before `pretrained` loads its raw weights
    (a checkpoint of a conv=ws run, or plain weights to fine-tune: in train mode BN
    renormalizes the rescaled channels; `mlpresets.models.ws.to_ws` converts exactly).
    """
    if arch not in ARCHS:
        raise ConfigError(f"model.arch={arch}: must be one of {', '.join(ARCHS)}")
    if stem == "auto":
        stem = "small" if image_size < SMALL_STEM_BELOW else "imagenet"
    if stem not in ("imagenet", "small"):
        raise ConfigError(f"model.stem={stem}: must be 'imagenet', 'small' or 'auto'")
    if replace_stride_with_dilation is not None and arch in BASIC_BLOCK_ARCHS:
        raise ConfigError(
            f"model.replace_stride_with_dilation: {arch} has BasicBlocks, which torchvision "
            "cannot dilate (use resnet50 or deeper)"
        )
    net: nn.Module = getattr(torchvision.models, arch)(
        weights=None,
        num_classes=num_classes,
        zero_init_residual=zero_init_residual,
        replace_stride_with_dilation=replace_stride_with_dilation,
        norm_layer=_norm_layer(norm),
    )
    if stem == "small":
        # CIFAR-style: keep full resolution into layer1 (16 px in -> 16 px at layer1).
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    apply_conv(net, conv)
    if pretrained:
        load_pretrained(net, pretrained)
    apply_freeze(net, net.get_submodule("fc"), freeze)
    net.head_lr_mult = head_lr_mult  # type: ignore[assignment]
    return net


def load_pretrained(net: nn.Module, path: str, head: str = "fc") -> None:
    """Load a local state_dict strictly, except the head when its shape differs (replaced).

    An RGB first conv is adapted to other input channel counts by summing (1 channel) or
    cycling its input filters, as timm does.
    """
    key = "model.pretrained"
    state = dict(state_dict_from(safe_load(path, key), key, path))
    own = net.state_dict()
    for k in [k for k in state if k.startswith(f"{head}.")]:
        if k in own and state[k].shape != own[k].shape:
            del state[k]  # a new head for this task's classes: keep the fresh init
    conv = state.get("conv1.weight")
    if conv is not None and "conv1.weight" in own:
        target = own["conv1.weight"]
        if conv.shape[2:] == target.shape[2:] and conv.shape[1] != target.shape[1]:
            state["conv1.weight"] = _adapt_input_conv(conv, target.shape[1])
    mismatched = [
        f"{k} {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and v.shape != own[k].shape
    ]
    missing = [k for k in own if k not in state and not k.startswith(f"{head}.")]
    unexpected = [k for k in state if k not in own]
    problems = []
    if mismatched:
        problems.append(f"shape mismatch: {', '.join(mismatched[:3])}")
    if missing:
        problems.append(
            f"missing keys: {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}"
        )
    if unexpected:
        more = " ..." if len(unexpected) > 5 else ""
        problems.append(f"unexpected keys: {', '.join(unexpected[:5])}{more}")
    if problems:
        raise ConfigError(f"{key}={path}: does not fit the model ({'; '.join(problems)})")
    net.load_state_dict(state, strict=False)
    kept = sum(1 for k in own if k.startswith(f"{head}.") and k in state)
    log.info("loaded %d tensors from %s (head %s)", len(state), path, "kept" if kept else "new")


def _adapt_input_conv(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    # weight: (out, 3, k, k) -> (out, in_channels, k, k), keeping the response to gray input.
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    reps = -(-in_channels // weight.shape[1])
    return weight.repeat(1, reps, 1, 1)[:, :in_channels] * (weight.shape[1] / in_channels)


def apply_freeze(net: nn.Module, head: nn.Module, freeze: str) -> None:
    """freeze=backbone: only `head` keeps requires_grad (transfer learning, fixed features)."""
    if freeze == "none":
        return
    if freeze != "backbone":
        raise ConfigError(f"model.freeze={freeze}: must be 'none' or 'backbone'")
    for p in net.parameters():
        p.requires_grad_(False)
    for p in head.parameters():
        p.requires_grad_(True)
