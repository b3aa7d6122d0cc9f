"""OmegaConf resolvers used by conf/config.yaml. Imported by run.py before Hydra composes."""

from __future__ import annotations

import os

from omegaconf import OmegaConf


def unique_dir(path: str) -> str:
    """Return `path`, or `path_1`, `path_2`... if it already exists.

    Two runs started in the same second would otherwise share (and overwrite) one run dir.
    Registered with use_cache so every later resolution in this process agrees, even
    after Hydra has created the directory.
    """
    candidate, n = path, 0
    while os.path.exists(candidate):
        n += 1
        candidate = f"{path}_{n}"
    return candidate


def register() -> None:
    if not OmegaConf.has_resolver("unique_dir"):
        OmegaConf.register_new_resolver("unique_dir", unique_dir, use_cache=True)
