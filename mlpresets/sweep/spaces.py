"""Conditional search spaces for `hydra.sweeper.custom_search_space`.

Each function gets the sweep's config and the Optuna trial; every parameter it suggests is
passed to the trial as an override named like the parameter (`scheduler.step_size=3`).
"""

from __future__ import annotations

from omegaconf import DictConfig
from optuna.trial import Trial


def scheduler(cfg: DictConfig, trial: Trial) -> None:
    """StepLR's step_size/gamma or ReduceLROnPlateau's factor/patience, never both."""
    epochs = int(cfg.trainer.max_epochs)
    kind = trial.suggest_categorical("scheduler", ["step", "plateau"])
    if kind == "step":
        trial.suggest_int("scheduler.step_size", 1, max(1, epochs - 1))
        trial.suggest_float("scheduler.gamma", 0.05, 0.5, log=True)
    else:
        trial.suggest_float("scheduler.factor", 0.05, 0.5, log=True)
        trial.suggest_int("scheduler.patience", 0, 2)
