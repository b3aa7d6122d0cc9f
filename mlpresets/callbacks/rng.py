"""Save and restore the global RNG states with each checkpoint, so resume= is exact.

Lightning restores model, optimizer, scheduler and loop state but not the RNGs that drive
the sampler's shuffle and the augmentations: without this, a resumed run diverges.
"""

from __future__ import annotations

import random
from typing import Any, cast

import numpy as np
import pytorch_lightning as pl
import torch


class RNGStateCheckpoint(pl.Callback):
    def state_dict(self) -> dict[str, Any]:
        np_state = cast(tuple[Any, ...], np.random.get_state(legacy=True))
        return {
            "torch": torch.get_rng_state(),
            "numpy_keys": torch.from_numpy(np_state[1].astype(np.int64)),  # (624,) uint32 -> int64
            "numpy_pos": int(np_state[2]),
            "numpy_gauss": (int(np_state[3]), float(np_state[4])),
            "python": _to_lists(random.getstate()),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        keys = state["numpy_keys"].numpy().astype(np.uint32)
        has_gauss, gauss = state["numpy_gauss"]
        np.random.set_state(("MT19937", keys, state["numpy_pos"], has_gauss, gauss))
        random.setstate(_to_tuples(state["python"]))


def _to_lists(state: Any) -> Any:
    return [_to_lists(s) for s in state] if isinstance(state, tuple) else state


def _to_tuples(state: Any) -> Any:
    return tuple(_to_tuples(s) for s in state) if isinstance(state, list) else state
