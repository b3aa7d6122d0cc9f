"""scikit-learn's 8x8 digits, upsampled, with a fixed stratified train/val/test split."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from mlpresets.data.base import ImageDataModule, TensorImages
from mlpresets.errors import ConfigError


class DigitsDataModule(ImageDataModule):
    def __init__(
        self,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        split_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not (val_fraction > 0 and test_fraction > 0 and val_fraction + test_fraction < 1):
            raise ConfigError("data.val_fraction/test_fraction: each > 0, together < 1")
        if self.in_channels != 1 or self.num_classes != 10:
            raise ConfigError(
                "data: digits are 1-channel with 10 classes (in_channels=1, num_classes=10)"
            )
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction
        self.split_seed = split_seed

    def load_splits(self) -> dict[str, Any]:
        digits = load_digits()
        x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
        if self.image_size != 8:
            x = F.interpolate(x, size=self.image_size, mode="bilinear", align_corners=False)
            x = x.clamp_(0.0, 1.0)  # (N, 1, S, S)
        y = torch.tensor(digits.target, dtype=torch.long)  # (N,)
        idx = torch.arange(len(y)).numpy()
        holdout = self.val_fraction + self.test_fraction
        train_idx, rest = train_test_split(
            idx, test_size=holdout, stratify=y.numpy(), random_state=self.split_seed
        )
        val_idx, test_idx = train_test_split(
            rest,
            test_size=self.test_fraction / holdout,
            stratify=y.numpy()[rest],
            random_state=self.split_seed,
        )
        return {
            name: TensorImages(x[i], y[i])
            for name, i in (("train", train_idx), ("val", val_idx), ("test", test_idx))
        }
