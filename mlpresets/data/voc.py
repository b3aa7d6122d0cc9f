"""Pascal VOC2012 as a multi-label classification set (the seed report's experiment).

Reads the standard tree under ``root``::

    VOCdevkit/VOC2012/JPEGImages/<id>.jpg
    VOCdevkit/VOC2012/ImageSets/Main/<class>_<split>.txt   lines "<id> 1|-1|0"

where 1 marks an image containing the class, -1 one without it and 0 one whose only
instances of it are "difficult" (``difficult``: ``ignore`` counts those as absent,
``positive`` as present). Labels are float (20,) multi-hot vectors.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision.transforms import v2

from mlpresets.data.base import ImageDataModule
from mlpresets.data.folder import load_rgb
from mlpresets.errors import ConfigError

log = logging.getLogger(__name__)

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip
DIFFICULT = {"ignore": 0.0, "positive": 1.0}  # the label a "0" (difficult only) line gets


def voc_dir(root: str | Path) -> Path:
    return Path(root) / "VOCdevkit" / "VOC2012"


def read_labels(root: str | Path, split: str, difficult: str) -> dict[str, torch.Tensor]:
    """{image id: (20,) float multi-hot} from ImageSets/Main/<class>_<split>.txt."""
    if difficult not in DIFFICULT:
        raise ConfigError(f"data.difficult={difficult!r}: must be one of {sorted(DIFFICULT)}")
    main = voc_dir(root) / "ImageSets" / "Main"
    labels: dict[str, torch.Tensor] = {}
    for c, name in enumerate(VOC_CLASSES):
        path = main / f"{name}_{split}.txt"
        if not path.is_file():
            raise ConfigError(f"data.root={root}: missing {path} (expected the VOC2012 tree)")
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("1", "-1", "0"):
                raise ConfigError(f"{path}:{number}: expected '<image id> 1|-1|0', got {line!r}")
            image_id, flag = parts
            vec = labels.setdefault(image_id, torch.zeros(len(VOC_CLASSES)))
            vec[c] = 1.0 if flag == "1" else DIFFICULT[difficult] if flag == "0" else 0.0
    return labels


def readable(path: Path) -> bool:
    """The file exists and PIL can read its whole image."""
    try:
        with Image.open(path) as image:
            image.load()
        return True
    except (UnidentifiedImageError, OSError):
        return False


class VOCMultiLabel(Dataset):
    """(PIL image, (20,) float labels) for one split, ids in sorted order.

    on_corrupt: ``error`` raises naming the first unreadable or missing image; ``skip`` leaves
    such images out (each is opened once here), counts them in ``skipped`` and still fails when
    more than ``max_skipped`` are missing.
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        difficult: str = "ignore",
        on_corrupt: str = "error",
        max_skipped: int = 10,
    ) -> None:
        if on_corrupt not in ("error", "skip"):
            raise ConfigError(f"data.on_corrupt={on_corrupt!r}: must be 'error' or 'skip'")
        self.images = voc_dir(root) / "JPEGImages"
        labels = read_labels(root, split, difficult)
        self.ids = sorted(labels)
        self.skipped: list[str] = []
        if on_corrupt == "skip":
            self.skipped = [i for i in self.ids if not readable(self.path(i))]
            if len(self.skipped) > max_skipped:
                raise ConfigError(
                    f"data.max_skipped={max_skipped}: {len(self.skipped)} unreadable images in "
                    f"{self.images} for split {split} (first: {self.path(self.skipped[0])})"
                )
            if self.skipped:
                log.warning(
                    "%s: skipped %d unreadable images: %s",
                    split,
                    len(self.skipped),
                    ", ".join(self.skipped),
                )
            skip = set(self.skipped)
            self.ids = [i for i in self.ids if i not in skip]
        self.labels = torch.stack([labels[i] for i in self.ids]) if self.ids else torch.zeros(0, 20)

    def path(self, image_id: str) -> Path:
        return self.images / f"{image_id}.jpg"

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> tuple[Any, torch.Tensor]:
        return load_rgb(str(self.path(self.ids[i]))), self.labels[i]


class VOC2012DataModule(ImageDataModule):
    """VOC2012 multi-label classification: 20 classes, (image, (20,) float) batches.

    ``splits`` maps train/val/test to VOC's ImageSets split names; VOC2012's own test labels
    are not public, so test reads ``val`` unless told otherwise.
    """

    def __init__(
        self,
        root: str,
        splits: dict[str, str] | None = None,
        difficult: str = "ignore",
        on_corrupt: str = "error",
        max_skipped: int = 10,
        resize_size: int = 256,
        **kwargs: Any,
    ) -> None:
        super().__init__(**{"task": "multilabel", **kwargs})
        if self.num_classes != len(VOC_CLASSES) or self.in_channels != 3:
            raise ConfigError(
                f"data: VOC2012 is 3-channel with {len(VOC_CLASSES)} classes "
                f"(in_channels={self.in_channels}, num_classes={self.num_classes})"
            )
        if self.task != "multilabel":
            raise ConfigError(f"data.task={self.task}: VOC2012 labels are multi-hot (multilabel)")
        self.root = root
        self.split_names = dict(splits or {"train": "train", "val": "val", "test": "val"})
        self.options = {
            "difficult": difficult,
            "on_corrupt": on_corrupt,
            "max_skipped": max_skipped,
        }
        self.resize_size = resize_size
        self.skipped: dict[str, int] = {}  # unreadable images left out, per split

    def load_splits(self) -> dict[str, Any]:
        out = {}
        for split, name in self.split_names.items():
            out[split] = VOCMultiLabel(self.root, name, **self.options)  # type: ignore[arg-type]
            self.skipped[split] = len(out[split].skipped)
        return out

    @property
    def class_names(self) -> list[str]:
        return list(VOC_CLASSES)

    def label_frequencies(self) -> torch.Tensor:
        """(20,) fraction of train images containing each class (for BCE's pos_weight)."""
        self.setup("fit")
        labels = self.splits["train"].base.labels  # (N, 20)
        return labels.float().mean(dim=0)

    def eval_resize(self) -> list[Any]:
        return [v2.Resize(self.resize_size, antialias=True), v2.CenterCrop(self.image_size)]

    def train_prefix(self) -> list[Any]:
        return []  # the configured augmentation (RandomResizedCrop) sets the size
