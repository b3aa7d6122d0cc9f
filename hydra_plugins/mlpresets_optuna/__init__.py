"""mlpresets' Optuna sweeper for Hydra: `python run.py -m hydra/sweeper=optuna`.

Hydra imports every module under the `hydra_plugins` namespace package when it scans for
plugins, so this package imports nothing heavy; Optuna loads only when a sweep starts.
"""
