"""The one exception type a user sees as a single line (run.py prints it and exits 1)."""

from __future__ import annotations


class ConfigError(Exception):
    """Bad input the user can fix: the message names the key or path and what to do."""


def user_error(err: BaseException | None) -> ConfigError | None:
    """Our one-line error behind `err` (wrapped by Hydra's instantiate, or re-raised from a
    DataLoader worker, whose message carries the worker's whole traceback), else None."""
    while err is not None and not isinstance(err, ConfigError):
        err = err.__cause__ or err.__context__
    if err is None:
        return None
    text = str(err)
    if "Original Traceback" in text:
        # "Caught ConfigError in DataLoader worker process 0.\nOriginal Traceback ...\n
        #  mlpresets.errors.ConfigError: <the message>"
        last = text.rstrip().splitlines()[-1]
        return ConfigError(last.split("ConfigError: ", 1)[-1])
    return err
