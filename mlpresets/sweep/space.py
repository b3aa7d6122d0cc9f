"""Search spaces: Hydra's sweep grammar to Optuna distributions, as hydra-optuna-sweeper reads it.

choice(a, b, c) | a,b,c        -> CategoricalDistribution
range(1, 8) / range(1, 8, 2)   -> IntDistribution(1, 8, step) (stop included, as that plugin
                                  does); a float bound or step -> FloatDistribution(step=)
shuffle(range(...))            -> CategoricalDistribution of the range's values
interval(0.1, 0.9)             -> FloatDistribution
int(interval(1, 10))           -> IntDistribution (Hydra reads interval's ends as floats)
tag(log, interval(1e-4, 1e-1)) -> the same on a log scale
anything else                  -> a fixed value passed to every trial
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    IntervalSweep,
    Override,
    RangeSweep,
    Transformer,
)
from hydra.errors import OverrideParseException
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from mlpresets.errors import ConfigError


@dataclass
class SearchSpace:
    distributions: dict[str, BaseDistribution] = field(default_factory=dict)
    fixed: dict[str, str] = field(default_factory=dict)  # name -> override value, as written


def parse_space(params: Mapping[str, Any] | None, arguments: Iterable[str] = ()) -> SearchSpace:
    """`hydra.sweeper.params` plus the sweep's command-line arguments (which win)."""
    space = SearchSpace()
    parser = OverridesParser.create()
    items = [("hydra.sweeper.params.", str(k), str(v)) for k, v in (params or {}).items()]
    for text in arguments:
        if "=" in text:
            key, expr = text.split("=", 1)
            items.append(("", key, expr))
    for where, key, expr in items:
        try:
            (override,) = parser.parse_overrides([f"{key}={expr}"])
        except OverrideParseException as err:
            detail = str(err).strip().splitlines()[0]
            raise ConfigError(f"{where}{key}: cannot parse '{expr}': {detail}") from None
        name = override.get_key_element()
        try:
            dist = distribution(override)
        except ValueError as err:
            raise ConfigError(f"{where}{key}: '{expr}': {err}") from None
        space.distributions.pop(name, None)
        space.fixed.pop(name, None)
        if dist is None:
            space.fixed[name] = override.get_value_element_as_str()
        else:
            space.distributions[name] = dist
    return space


def from_search_space(search_space: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The deprecated `search_space: {name: {type, low, high, log, step, choices}}` as params."""
    params: dict[str, str] = {}
    for name, spec in search_space.items():
        kind = str(spec.get("type", "")).split(".")[-1]
        low, high, step = spec.get("low"), spec.get("high"), spec.get("step")
        if kind == "categorical":
            params[name] = "choice({})".format(", ".join(str(c) for c in spec.get("choices", [])))
        elif kind in ("int", "float"):
            cast: Callable[[Any], Any] = int if kind == "int" else float
            if spec.get("log"):
                params[name] = f"tag(log, interval({cast(low)}, {cast(high)}))"
            elif step is not None:
                params[name] = f"range({cast(low)}, {cast(high)}, {cast(step)})"
            else:
                params[name] = f"interval({cast(low)}, {cast(high)})"
        else:
            raise ConfigError(
                f"hydra.sweeper.search_space.{name}.type: '{kind}' is not int, float or categorical"
            )
    return params


def distribution(override: Override) -> BaseDistribution | None:
    """The Optuna distribution of one parsed override; None for a fixed value."""
    if not override.is_sweep_override():
        return None
    value = override.value()
    if override.is_choice_sweep() or (isinstance(value, RangeSweep) and value.shuffle):
        choices: list[Any] = list(override.sweep_iterator(transformer=Transformer.encode))
        return CategoricalDistribution(choices)
    if isinstance(value, RangeSweep):
        start, stop, step = value.start, value.stop, value.step
        assert start is not None and stop is not None
        if any(isinstance(x, float) for x in (start, stop, step)):
            return FloatDistribution(float(start), float(stop), step=float(step))
        return IntDistribution(int(start), int(stop), step=int(step))
    if isinstance(value, IntervalSweep):
        start, end = value.start, value.end
        assert start is not None and end is not None
        log = "log" in value.tags
        if isinstance(start, int) and isinstance(end, int):
            return IntDistribution(start, end, log=log)
        return FloatDistribution(float(start), float(end), log=log)
    raise ValueError(f"{type(value).__name__} sweeps are not supported by the Optuna sweeper")


def grid_choices(name: str, dist: BaseDistribution) -> list[Any]:
    """The values a GridSampler walks for one distribution (discrete ones only)."""
    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    if isinstance(dist, IntDistribution) and not dist.log:
        return list(range(dist.low, dist.high + 1, dist.step))
    if isinstance(dist, FloatDistribution) and dist.step is not None:
        n = int(round((dist.high - dist.low) / dist.step))
        return [dist.low + i * dist.step for i in range(n + 1)]
    raise ConfigError(
        f"hydra.sweeper.params.{name}: the grid sampler needs choice(...) or range(...), "
        f"not a continuous {type(dist).__name__}"
    )


def format_value(value: Any) -> str:
    """A sampled value as an override value Hydra parses back to the same thing."""
    if isinstance(value, float):
        return repr(value)
    if value is None:
        return "null"
    return str(value)
