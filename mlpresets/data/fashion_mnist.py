"""Fashion-MNIST read straight from its IDX files (.gz or raw): 55k/5k/10k."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision.transforms import v2

from mlpresets.data.base import ImageDataModule, TensorImages, holdout_splits
from mlpresets.errors import ConfigError

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
GET_IT = "on Debian/Ubuntu: apt-get install dataset-fashion-mnist"


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (unsigned byte data) as an array of its declared shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise ConfigError(f"{path}: unreadable ({err})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ConfigError(f"{path}: not an unsigned-byte IDX file (bad magic number)")
    ndim = raw[3]
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    offset = 4 + 4 * ndim
    if len(raw) - offset != int(np.prod(dims)):
        raise ConfigError(f"{path}: size does not match its header {dims} (truncated?)")
    return np.frombuffer(raw, dtype=np.uint8, offset=offset).reshape(dims)


def find_file(root: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (root / name).is_file():
            return root / name
    raise ConfigError(f"data.root={root}: no {stem}.gz (Fashion-MNIST IDX files; {GET_IT})")


class FashionMNISTDataModule(ImageDataModule):
    def __init__(self, root: str, val_size: int = 5000, split_seed: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.root = Path(root)
        self.val_size = val_size
        self.split_seed = split_seed

    def load_splits(self) -> dict[str, Any]:
        if not self.root.is_dir():
            raise ConfigError(f"data.root={self.root}: no such directory ({GET_IT})")
        arrays = {k: read_idx(find_file(self.root, stem)) for k, stem in FILES.items()}
        splits = {}
        for split in ("train", "test"):
            x = torch.from_numpy(arrays[f"{split}_images"].copy()).unsqueeze(
                1
            )  # (N, 1, 28, 28) uint8
            y = torch.from_numpy(arrays[f"{split}_labels"].astype(np.int64))  # (N,)
            if len(x) != len(y):
                raise ConfigError(
                    f"data.root={self.root}: {split} has {len(x)} images, {len(y)} labels"
                )
            splits[split] = TensorImages(x, y)
        return holdout_splits(splits["train"], splits["test"], self.val_size, self.split_seed)

    def eval_resize(self) -> list[Any]:
        return [] if self.image_size == 28 else [v2.Resize(self.image_size, antialias=True)]
