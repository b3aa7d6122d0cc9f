"""Class-per-folder image trees (ImageFolder, and ImageNet in torchvision's reference layout)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError
from torchvision.datasets import ImageFolder
from torchvision.transforms import v2

from mlpresets.data.base import ImageDataModule
from mlpresets.errors import ConfigError


def load_rgb(path: str) -> Image.Image:
    """PIL loader whose error names the file (PIL alone says only 'cannot identify')."""
    try:
        with open(path, "rb") as f:
            return Image.open(f).convert("RGB")
    except (UnidentifiedImageError, OSError) as err:
        raise ConfigError(f"{path}: unreadable image ({err.__class__.__name__})") from None


class ImageFolderDataModule(ImageDataModule):
    def __init__(
        self,
        root: str,
        splits: dict[str, str] | None = None,
        resize_size: int = 256,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.root = Path(root)
        self.split_dirs = dict(splits or {"train": "train", "val": "val", "test": "test"})
        self.resize_size = resize_size

    def load_splits(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for split, folder in self.split_dirs.items():
            path = self.root / folder
            if not path.is_dir():
                raise ConfigError(
                    f"data.root={self.root}: no {folder}/ folder "
                    "(expected root/{train,val,test}/<class>/<image>)"
                )
            try:
                out[split] = ImageFolder(str(path), loader=load_rgb)
            except FileNotFoundError as err:
                raise ConfigError(f"data.root={self.root}: {folder}/: {err}") from None
        classes = out["train"].classes
        if len(classes) != self.num_classes:
            raise ConfigError(
                f"data.num_classes={self.num_classes}: {self.root / self.split_dirs['train']} "
                f"has {len(classes)} class folders"
            )
        for split, ds in out.items():
            if ds.classes != classes:
                raise ConfigError(
                    f"data.root={self.root}: {self.split_dirs[split]}/ classes differ from train/"
                )
        return out

    def eval_resize(self) -> list[Any]:
        return [
            v2.Resize(self.resize_size, antialias=True),
            v2.CenterCrop(self.image_size),
        ]

    def train_prefix(self) -> list[Any]:
        return []  # the configured augmentation (RandomResizedCrop) sets the size
