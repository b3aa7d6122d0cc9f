"""The one exception type a user sees as a single line (run.py prints it and exits 1)."""


class ConfigError(Exception):
    """Bad input the user can fix: the message names the key or path and what to do."""
