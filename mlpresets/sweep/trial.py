"""The trial's side of a sweep: report each epoch to Optuna, follow the pruner's decision.

The sweeper passes `optuna.storage`, `optuna.study_name` and `optuna.trial` to every trial.
Only global rank 0 talks to the database; it broadcasts the decision, so under DDP every rank
stops at the same step (no rank left waiting in a collective, no diverged weights).
"""

from __future__ import annotations

import logging
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig

log = logging.getLogger(__name__)


class OptunaPruning(pl.Callback):
    """Report `monitor` after every validation (step = epochs trained) and stop when pruned."""

    def __init__(
        self, storage: str, study_name: str, trial: int, monitor: str, pruner: Any = None
    ) -> None:
        self.storage = storage
        self.study_name = study_name
        self.trial_number = trial
        self.monitor = monitor
        self.pruner = pruner
        self.pruned_at: int | None = None
        self._trial: Any = None
        self._warned = False

    def _connect(self) -> Any:
        import optuna

        if self._trial is None:
            study = optuna.load_study(
                study_name=self.study_name,
                storage=self.storage,
                pruner=self.pruner or optuna.pruners.NopPruner(),
            )
            if study._is_multi_objective():
                self._trial = False  # Optuna prunes single-objective studies only
            else:
                trial_id = study._storage.get_trial_id_from_study_id_trial_number(
                    study._study_id, self.trial_number
                )
                self._trial = optuna.Trial(study, trial_id)
        return self._trial

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        epochs = trainer.current_epoch + 1
        prune = False
        if trainer.is_global_zero:
            prune = self._ask(trainer, epochs)
        prune = bool(trainer.strategy.broadcast(prune, src=0))
        if prune:
            self.pruned_at = epochs
            trainer.should_stop = True
            log.info("trial %d pruned after epoch %d", self.trial_number, epochs)

    def _ask(self, trainer: pl.Trainer, epochs: int) -> bool:
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            if not self._warned:
                log.warning("pruning: '%s' is not logged, nothing to report", self.monitor)
                self._warned = True
            return False
        trial = self._connect()
        if not trial:
            return False
        trial.report(float(value), step=epochs)
        return bool(trial.should_prune())


def pruning_callback(cfg: DictConfig) -> OptunaPruning | None:
    """The callback for a run the Optuna sweeper launched (cfg.optuna.trial set), else None."""
    sweep = cfg.get("optuna")
    if not sweep or sweep.get("trial") is None:
        return None
    return OptunaPruning(
        storage=sweep.storage,
        study_name=sweep.study_name,
        trial=int(sweep.trial),
        monitor=cfg.monitor,
        pruner=_sweeper_pruner(),
    )


def _sweeper_pruner() -> Any:
    """The pruner of the sweep that launched this trial (hydra.sweeper.pruner), if any."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import instantiate

    if not HydraConfig.initialized():
        return None
    node = HydraConfig.get().sweeper.get("pruner")
    return instantiate(node) if node else None
