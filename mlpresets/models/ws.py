"""Weight-standardized convolutions (`model.conv=ws`), and turning a trained plain model into one.

A WS conv divides each output channel's filter by its standard deviation before convolving
(no mean subtraction), so its output no longer depends on the filters' scale. A BatchNorm
after a conv absorbs any per-channel scale, which is what lets `to_ws` convert a trained
conv+BN network without changing its eval outputs.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import fx, nn

from mlpresets.errors import ConfigError

CONVS = ("plain", "ws")
# The report's value. It only keeps a dead filter (all weights equal: std 0) finite, W/1e-6
# instead of inf or 0/0; float32 holds it and its square root. Added to any filter variance
# above ~2e-5 (torchvision's Kaiming init of a 3x3 conv with 512 outputs gives ~4e-4) it is
# lost to float32 rounding, so a live filter is exactly W/std.
EPS = 1e-12


class WSConv2d(nn.Conv2d):
    """nn.Conv2d whose forward uses weight / sqrt(std(weight)^2 + eps), per output channel.

    std is torch's default (unbiased) over each filter's in/groups x kh x kw entries, and the
    parameter keeps its name `weight`, so state_dicts load in either direction. The
    statistics are taken in float32 (or wider) whatever the weights' dtype: `eps` never underflows.
    """

    def __init__(self, *args: Any, eps: float = EPS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.weight[0].numel() < 2:
            raise ValueError(
                f"WSConv2d: a filter of {self.weight[0].numel()} weight has no standard "
                "deviation (needs in_channels/groups x kernel size >= 2)"
            )
        self.eps = eps

    @classmethod
    def from_conv(cls, conv: nn.Conv2d, eps: float = EPS) -> WSConv2d:
        """A WSConv2d with `conv`'s settings that shares its weight and bias Parameters."""
        ws = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=conv.bias is not None,
            padding_mode=conv.padding_mode,
            device="meta",  # no init work: the parameters are replaced next
            eps=eps,
        )
        ws.weight = conv.weight
        ws.bias = conv.bias
        ws.train(conv.training)
        return ws

    def scale(self) -> torch.Tensor:
        """s = sqrt(std(W)^2 + eps) per output channel (float32 or wider); forward uses W / s.

        var (= std^2, unbiased) rather than std: the same value, and a finite gradient for a
        dead filter, where std's is NaN.
        """
        dtype = torch.promote_types(self.weight.dtype, torch.float32)
        w = self.weight.to(dtype)  # (out, in/groups, kh, kw)
        return (w.var(dim=(1, 2, 3)) + self.eps).sqrt()  # (out,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.scale()[:, None, None, None]  # (out, 1, 1, 1)
        w = (self.weight.to(s.dtype) / s).to(self.weight.dtype)  # (out, in/groups, kh, kw)
        return self._conv_forward(x, w, self.bias)  # (B, out, H', W')

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, eps={self.eps}"


def ws_convs(model: nn.Module, eps: float = EPS) -> nn.Module:
    """Replace every plain nn.Conv2d of `model` by a WSConv2d with the same Parameters.

    For a freshly built model: training starts from the same init. On a trained model this
    changes the function (each filter is rescaled); use `to_ws` there. Subclasses of
    nn.Conv2d (WSConv2d included) are left alone: their forward may differ.
    """
    for name, conv in [(n, m) for n, m in model.named_modules() if type(m) is nn.Conv2d]:
        model.set_submodule(name, WSConv2d.from_conv(conv, eps))
    return model


def apply_conv(model: nn.Module, conv: str) -> None:
    """The builders' `model.conv` option: plain leaves `model` as built, ws standardizes it."""
    if conv not in CONVS:
        raise ConfigError(f"model.conv={conv}: must be 'plain' or 'ws'")
    if conv == "ws":
        ws_convs(model)


class _Tracer(fx.Tracer):
    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, WSConv2d) or super().is_leaf_module(m, module_qualified_name)


@torch.no_grad()
def to_ws(model: nn.Module, eps: float = EPS) -> nn.Module:
    """Convert a trained conv+BN `model` in place to WSConv2d, keeping its eval outputs.

    Each plain nn.Conv2d becomes a WSConv2d holding the same raw weight W, so its output is
    divided by s = sqrt(std(W)^2 + eps) per channel. The conv's bias is divided by s, and the
    BatchNorm2d that alone consumes the conv's output takes the scale: running_mean / s and
    sqrt(running_var + bn.eps) / s, i.e. running_var = (running_var + bn.eps) / s^2 - bn.eps
    (exact; it can go below 0 for a near-dead channel, while running_var + bn.eps stays
    positive); its affine weight and bias stay. In train mode BN normalizes with batch
    statistics, so the model then differs from the original only through bn.eps.

    The conv -> BN pairs come from a torch.fx trace of `model.forward`. A conv whose output
    goes anywhere else than exactly one BatchNorm2d with running statistics (a ReLU, a
    GroupNorm, two consumers, the model's output), a conv or BN called more than once, or a
    conv the trace never reaches is refused with a ValueError naming it: rescaling an
    arbitrary consumer exactly is not possible in general (a GroupNorm mixes channels), and
    a conv+BN network is what this conversion is for. Nothing is changed when it refuses.
    """
    try:
        graph = _Tracer().trace(model)
    except Exception as err:
        raise ValueError(
            f"to_ws: cannot trace {type(model).__name__} with torch.fx to find each conv's "
            f"BatchNorm ({type(err).__name__}: {err})"
        ) from err
    calls: dict[str, list[fx.Node]] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls.setdefault(str(node.target), []).append(node)
    modules = dict(model.named_modules())
    pairs: list[tuple[str, nn.Conv2d, nn.BatchNorm2d]] = []
    for name, conv in modules.items():
        if type(conv) is not nn.Conv2d:
            continue
        nodes = calls.get(name, [])
        if len(nodes) != 1:
            raise ValueError(
                f"to_ws: conv {name} is called {len(nodes)} times in the traced forward "
                "(each conv must feed one BatchNorm2d exactly once)"
            )
        users = list(nodes[0].users)
        bn = _bn_of(users, modules)
        if bn is None:
            feeds = ", ".join(_describe(u, modules) for u in users) or "nothing"
            raise ValueError(
                f"to_ws: conv {name} feeds {feeds}, not exactly one BatchNorm2d with running "
                "statistics (only a following BatchNorm can absorb the scale)"
            )
        if len(calls[str(users[0].target)]) != 1:
            raise ValueError(
                f"to_ws: BatchNorm2d {users[0].target} (after conv {name}) is called more than once"
            )
        pairs.append((name, conv, bn))
    for name, conv, bn in pairs:
        ws = WSConv2d.from_conv(conv, eps)
        s = ws.scale().double()  # (out,); the updates in float64, rounded once
        if ws.bias is not None:
            ws.bias.copy_(ws.bias.double() / s)
        mean, var = bn.running_mean, bn.running_var
        assert mean is not None and var is not None  # _bn_of checked
        mean.copy_(mean.double() / s)  # (out,)
        var.copy_((var.double() + bn.eps) / s**2 - bn.eps)  # (out,)
        model.set_submodule(name, ws)
    return model


def _bn_of(users: list[fx.Node], modules: dict[str, nn.Module]) -> nn.BatchNorm2d | None:
    """The BatchNorm2d with running statistics that is the only one of `users`, else None."""
    if len(users) != 1 or users[0].op != "call_module":
        return None
    bn = modules.get(str(users[0].target))
    if not isinstance(bn, nn.BatchNorm2d) or bn.running_mean is None or bn.running_var is None:
        return None
    return bn


def _describe(node: fx.Node, modules: dict[str, nn.Module]) -> str:
    """What a consumer is, for an error message: 'GroupNorm bn1', 'relu', "the model's output"."""
    if node.op == "call_module":
        return f"{type(modules[str(node.target)]).__name__} {node.target}"
    if node.op == "output":
        return "the model's output"
    return str(getattr(node.target, "__name__", node.target))
