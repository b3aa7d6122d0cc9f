"""Read-only measurements of a model: size, FLOPs, first-conv filters, feature maps, occlusion.

Callers run these forwards inside `observing(module)`: eval mode, no autograd, torch's RNG
streams (CPU and the current CUDA device) forked, every submodule's train/eval flag restored
afterwards. Training never sees them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


@contextmanager
def observing(module: nn.Module) -> Iterator[None]:
    """Eval-mode, no-grad forwards that leave the module and the RNG streams as they were."""
    modes = [(m, m.training) for m in module.modules()]
    devices = [torch.cuda.current_device()] if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        module.eval()
        try:
            yield
        finally:
            for m, training in modes:
                m.training = training


def count_params(module: nn.Module) -> tuple[int, int]:
    """(all parameters, those with requires_grad)."""
    params = list(module.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def flops_per_image(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> int:
    """FLOPs (2 per multiply-add) of one forward of `x`, a (1, C, H, W) batch, by op counting."""
    counter = FlopCounterMode(display=False)
    with counter:
        forward(x)
    return int(counter.get_total_flops())


def first_conv(net: nn.Module) -> nn.Conv2d | None:
    """The first nn.Conv2d in module order (the stem), or None."""
    return next((m for m in net.modules() if isinstance(m, nn.Conv2d)), None)


def feature_maps(
    net: nn.Module, forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """forward(x), and the outputs of whichever of net.layer1..layer4 exist on the way."""
    maps: dict[str, torch.Tensor] = {}
    handles = []
    for name in ("layer1", "layer2", "layer3", "layer4"):
        layer = getattr(net, name, None)
        if isinstance(layer, nn.Module):

            def keep(_m: nn.Module, _i: object, out: torch.Tensor, name: str = name) -> None:
                maps[name] = out.detach()

            handles.append(layer.register_forward_hook(keep))
    try:
        out = forward(x)
    finally:
        for handle in handles:
            handle.remove()
    return out, maps


def patch_starts(side: int, patch: int, stride: int) -> list[int]:
    """Patch offsets along one side, `stride` apart, the last flush with the edge."""
    starts = list(range(0, side - patch + 1, stride))
    if starts[-1] != side - patch:
        starts.append(side - patch)
    return starts


def occlusion(
    scores: Callable[[torch.Tensor], torch.Tensor],
    image: torch.Tensor,
    target: int,
    patch: int,
    stride: int,
    batch_size: int = 64,
) -> tuple[float, torch.Tensor]:
    """How much hiding each region lowers the target's score (occlusion sensitivity).

    A `patch` x `patch` square of zeros (the mean, for normalized images) slides over the
    (C, H, W) `image`; `scores` maps a batch to (B, num_classes) probabilities. Returns the
    unoccluded score and an (H, W) map: per pixel, the mean score drop over the patches
    covering it (negative where hiding it raised the score). Copies run `batch_size` at once.
    """
    _, height, width = image.shape
    if not 0 < patch <= min(height, width):
        raise ValueError(f"occlusion: patch {patch} px for a {height}x{width} image")
    base = float(scores(image[None])[0, target])
    spots = [
        (y, x)
        for y in patch_starts(height, patch, stride)
        for x in patch_starts(width, patch, stride)
    ]
    drop = torch.zeros(height, width, dtype=torch.float64)
    cover = torch.zeros(height, width, dtype=torch.float64)
    for k in range(0, len(spots), batch_size):
        chunk = spots[k : k + batch_size]
        copies = image.expand(len(chunk), -1, -1, -1).clone()  # (b, C, H, W)
        for i, (y, x) in enumerate(chunk):
            copies[i, :, y : y + patch, x : x + patch] = 0
        hidden = scores(copies)[:, target].double().cpu()  # (b,)
        for (y, x), score in zip(chunk, hidden.tolist(), strict=True):
            drop[y : y + patch, x : x + patch] += base - score
            cover[y : y + patch, x : x + patch] += 1
    return base, (drop / cover).float()
