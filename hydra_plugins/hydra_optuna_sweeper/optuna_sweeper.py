"""`hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper`: mlpresets' sweeper."""

from hydra_plugins.mlpresets_optuna.optuna_sweeper import OptunaSweeper as _OptunaSweeper


class OptunaSweeper(_OptunaSweeper):
    """Hydra looks plugins up by their defining module, so this is a subclass, not an alias."""
