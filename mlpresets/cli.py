"""Command-line handling that must happen before Hydra creates a run directory.

`resume=RUN_DIR` continues a run in place, so Hydra must reuse RUN_DIR instead of making a
new one: we rewrite argv to replay the run's saved overrides, then the user's, then
`hydra.run.dir=RUN_DIR`. This module imports nothing heavy.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from mlpresets.errors import ConfigError


def in_multirun() -> bool:
    """Whether this is one job of a Hydra sweep (`-m`), not a single run."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _value(arg: str, key: str) -> str | None:
    for prefix in (f"{key}=", f"+{key}=", f"++{key}="):
        if arg.startswith(prefix):
            return arg[len(prefix) :]
    return None


def resume_argv(argv: list[str]) -> list[str]:
    """Expand `resume=RUN_DIR` into the argv that recreates that run in that directory."""
    args = argv[1:]
    run_dirs = [v for a in args if (v := _value(a, "resume")) not in (None, "null")]
    if not run_dirs:
        return argv
    if any(a in ("-m", "--multirun") for a in args):
        raise ConfigError("resume=: resuming is for single runs, not --multirun")
    run_dir = Path(run_dirs[-1]).expanduser().resolve()
    overrides_file = run_dir / ".hydra" / "overrides.yaml"
    last = run_dir / "checkpoints" / "last.ckpt"
    if not overrides_file.is_file():
        raise ConfigError(f"resume={run_dirs[-1]}: no .hydra/overrides.yaml (not a run directory)")
    if not last.is_file():
        raise ConfigError(f"resume={run_dirs[-1]}: no checkpoints/last.ckpt to continue from")
    saved = yaml.safe_load(overrides_file.read_text()) or []
    # The saved run's own resume=/hydra.run.dir= are replaced by this one's.
    saved = [o for o in saved if _value(o, "resume") is None and not o.startswith("hydra.run.dir=")]
    new = [a for a in args if _value(a, "resume") is None]
    return [argv[0], *saved, *new, f"resume={run_dir}", f"hydra.run.dir={run_dir}"]
