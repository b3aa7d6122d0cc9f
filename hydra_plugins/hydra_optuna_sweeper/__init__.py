"""Compatibility name for files written for the released hydra-optuna-sweeper.

lightning-hydra-template's and many users' sweep files name the sweeper class explicitly
(`_target_: hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper`); this module
makes that name run our sweeper. Do not install the released plugin beside mlpresets.
"""
