"""The Hydra Sweeper plugin class; the work is in mlpresets.sweep.sweeper (imported lazily)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.mlpresets_optuna import config as _config  # noqa: F401  (registers the schema)

log = logging.getLogger(__name__)

# `python run.py -m hydra/sweeper=optuna` with no search space at all runs this `sweep=` option.
DEFAULT_SWEEP = "default"


class OptunaSweeper(Sweeper):
    def __init__(self, **settings: Any) -> None:
        # _recursive_=False: sampler and pruner arrive as configs and are built in the sweep,
        # where a bad _target_ becomes a clear error.
        self.settings = OmegaConf.create(settings)
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    def sweep(self, arguments: list[str]) -> Any:
        from mlpresets.errors import ConfigError
        from mlpresets.sweep.sweeper import OptunaSweep

        assert self.config is not None and self.hydra_context is not None
        assert self.task_function is not None
        config, settings, extra = self.config, self.settings, []
        choices = OmegaConf.select(config, "hydra.runtime.choices") or {}
        label = choices.get("sweep") or "params"
        try:
            if not _has_space(settings, arguments):
                log.info("no search space given: running sweep=%s", DEFAULT_SWEEP)
                extra = [f"sweep={DEFAULT_SWEEP}"]
                config = self.hydra_context.config_loader.load_sweep_config(config, extra)
                settings = DictConfig(OmegaConf.to_container(config.hydra.sweeper, resolve=True))
                label = DEFAULT_SWEEP
            label = f"{label}-{choices.get('data', 'data')}"
            launcher = Plugins.instance().instantiate_launcher(
                config=config, hydra_context=self.hydra_context, task_function=self.task_function
            )
            sweep = OptunaSweep(settings, config, launcher, arguments, extra, label)
            return sweep.run(Path(config.hydra.sweep.dir))
        except ConfigError as err:
            # One line and exit 1, like a single run's bad input (Hydra would print a traceback).
            log.error(str(err))
            print(f"error: {err}", file=sys.stderr)
            raise SystemExit(1) from None


def _has_space(settings: DictConfig, arguments: list[str]) -> bool:
    from mlpresets.sweep.space import parse_space

    if (
        settings.get("params")
        or settings.get("search_space")
        or settings.get("custom_search_space")
    ):
        return True
    return bool(parse_space(None, arguments).distributions)
