"""CIFAR-10/100 in the python pickle format torchvision reads (cifar-10-batches-py/ ...).

Read here rather than with torchvision.datasets.CIFAR10 so that a restricted unpickler
(numpy arrays and plain values only) guards the load, and no md5 table pins the files.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mlpresets.data.base import ImageDataModule, TensorImages, holdout_splits
from mlpresets.errors import ConfigError

LAYOUT = {
    # variant: (folder, train files, test files, label key)
    "cifar10": (
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        ["test_batch"],
        "labels",
    ),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "fine_labels"),
}
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _DataOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused global {module}.{name}")


def read_batch(path: Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, 32, 32) uint8 images and (N,) labels from one pickled CIFAR batch."""
    if not path.is_file():
        raise ConfigError(f"{path}: missing (expected torchvision's CIFAR python layout)")
    try:
        with open(path, "rb") as f:
            batch = _DataOnlyUnpickler(f, encoding="latin1").load()
        data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
        labels = np.asarray(batch[label_key], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as err:
        raise ConfigError(f"{path}: not a CIFAR batch ({err})") from None
    if len(data) != len(labels):
        raise ConfigError(f"{path}: {len(data)} images but {len(labels)} labels")
    return data, labels


class CIFARDataModule(ImageDataModule):
    def __init__(
        self, root: str, variant: str, val_size: int = 5000, split_seed: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if variant not in LAYOUT:
            raise ConfigError(f"data.variant={variant}: must be cifar10 or cifar100")
        self.root = Path(root)
        self.variant = variant
        self.val_size = val_size
        self.split_seed = split_seed

    def _read(self, files: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        folder, _, _, key = LAYOUT[self.variant]
        base = self.root / folder
        if not base.is_dir():
            raise ConfigError(
                f"data.root={self.root}: no {folder}/ folder (the python version of "
                f"{self.variant.upper()} from www.cs.toronto.edu/~kriz/cifar.html, untarred)"
            )
        parts = [read_batch(base / name, key) for name in files]
        x = torch.from_numpy(np.concatenate([p[0] for p in parts]))  # (N, 3, 32, 32) uint8
        y = torch.from_numpy(np.concatenate([p[1] for p in parts]))  # (N,)
        if int(y.max()) >= self.num_classes:
            raise ConfigError(
                f"data.num_classes={self.num_classes}: labels go up to {int(y.max())}"
            )
        return x, y

    def load_splits(self) -> dict[str, Any]:
        _, train_files, test_files, _ = LAYOUT[self.variant]
        train = TensorImages(*self._read(train_files))
        test = TensorImages(*self._read(test_files))
        return holdout_splits(train, test, self.val_size, self.split_seed)
