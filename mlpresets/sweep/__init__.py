"""Optuna sweeps: the search space grammar, the study, the sweep loop and the trial's callback.

The Hydra plugin class lives in hydra_plugins/mlpresets_optuna (Hydra only looks there).
"""
