"""torchvision FakeData: random images of a chosen size, for throughput tests."""

from __future__ import annotations

from typing import Any

from torchvision.datasets import FakeData

from mlpresets.data.base import ImageDataModule


class FakeDataModule(ImageDataModule):
    def __init__(self, num_samples: int = 1024, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_samples = num_samples

    def load_splits(self) -> dict[str, Any]:
        shape = (self.in_channels, self.image_size, self.image_size)
        sizes = {"train": self.num_samples, "val": max(1, self.num_samples // 4)}
        sizes["test"] = sizes["val"]
        offsets = {"train": 0, "val": 1_000_000, "test": 2_000_000}  # disjoint random streams
        return {
            split: FakeData(n, shape, self.num_classes, random_offset=offsets[split])
            for split, n in sizes.items()
        }
