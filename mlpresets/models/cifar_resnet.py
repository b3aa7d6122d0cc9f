"""The CIFAR ResNets of He et al. 2016 (sec. 4.2): ResNet-20/32/44/56/110.

3x3 conv (16) -> 3 stages of n basic blocks (16, 32, 64 channels; stride 1, 2, 2) ->
global average pool -> fc. depth = 6n + 2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mlpresets.errors import ConfigError
from mlpresets.models.resnet import apply_freeze
from mlpresets.models.ws import apply_conv


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int, shortcut: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pad = 0  # option A: channels to zero-pad on the identity path
        self.downsample: nn.Module | None = None
        self.stride = stride
        if stride != 1 or in_planes != planes:
            if shortcut == "A":
                self.pad = planes - in_planes
            else:
                self.downsample = nn.Sequential(
                    nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes),
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))  # (B, planes, H/s, W/s)
        out = self.bn2(self.conv2(out))  # (B, planes, H/s, W/s)
        if self.downsample is not None:
            identity = self.downsample(x)  # (B, planes, H/s, W/s)
        elif self.pad or self.stride != 1:
            identity = x[:, :, :: self.stride, :: self.stride]  # (B, in, H/s, W/s)
            half = self.pad // 2
            identity = F.pad(identity, (0, 0, 0, 0, half, self.pad - half))  # (B, planes, H/s, W/s)
        else:
            identity = x
        return F.relu(out + identity)


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for small images; `fc` is the head. conv=ws: weight-standardized convs."""

    def __init__(
        self,
        depth: int,
        num_classes: int,
        in_channels: int = 3,
        shortcut: str = "A",
        conv: str = "plain",
        freeze: str = "none",
        head_lr_mult: float = 1.0,
    ) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ConfigError(f"model.depth={depth}: CIFAR ResNets have depth 6n+2 (20, 32, ...)")
        if shortcut not in ("A", "B"):
            raise ConfigError(f"model.shortcut={shortcut}: must be 'A' or 'B'")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers: list[nn.Module] = []
        in_planes = 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                layers.append(BasicBlock(in_planes, planes, stride if i == 0 else 1, shortcut))
                in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        apply_conv(self, conv)
        apply_freeze(self, self.fc, freeze)
        self.head_lr_mult = head_lr_mult

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))  # (B, 16, H, W)
        x = self.layers(x)  # (B, 64, H/4, W/4)
        x = x.mean(dim=(2, 3))  # (B, 64)
        return self.fc(x)  # (B, num_classes)
