"""What every image datamodule shares: splits -> transforms -> dataloaders, stats on train."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2 as v

from mlpresets.data.resumable import EpochSampler, ResumableDataLoader, decode, sample_seed
from mlpresets.errors import ConfigError

log = logging.getLogger(__name__)


class TransformedDataset(Dataset):
    """(image, label) pairs from `base` with `transform` applied to the image.

    With `seed`, an EpochSampler key (epoch and index in one int) seeds the transform's
    randomness from (seed, epoch, index): the same augmentation whatever process, worker or
    resume produces the sample. Plain indices are transformed with the ambient RNG.
    """

    def __init__(
        self, base: Any, transform: Callable[[Any], torch.Tensor], seed: int | None = None
    ) -> None:
        self.base = base
        self.transform = transform
        self.seed = seed

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key: int) -> tuple[torch.Tensor, int | torch.Tensor]:
        epoch, i = decode(key, len(self.base))
        image, label = self.base[i]
        if epoch is None or self.seed is None:
            x = self.transform(image)
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(sample_seed(self.seed, epoch, i))
                x = self.transform(image)
        # a class index, or a multi-hot tensor for multi-label sets (VOC)
        return x, label if isinstance(label, torch.Tensor) else int(label)


class TensorImages(Dataset):
    """Images held in memory as one (N, C, H, W) tensor (uint8 or float in [0, 1])."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        assert images.ndim == 4 and len(images) == len(labels)
        self.images = images  # (N, C, H, W)
        self.labels = labels  # (N,)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i], int(self.labels[i])


def holdout_splits(
    train: TensorImages, test: TensorImages, val_size: int, seed: int
) -> dict[str, TensorImages]:
    """Hold `val_size` random train images out as val (seeded: the same split every run)."""
    n = len(train)
    if not 0 < val_size < n:
        raise ConfigError(f"data.val_size={val_size}: must be in (0, {n})")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    val, rest = perm[:val_size], perm[val_size:]
    return {
        "train": TensorImages(train.images[rest], train.labels[rest]),
        "val": TensorImages(train.images[val], train.labels[val]),
        "test": test,
    }


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean/std of (N, C, H, W) images, on the [0, 1] scale."""
    x = images.float()
    if images.dtype == torch.uint8:
        x = x / 255.0
    x = x.transpose(0, 1).reshape(images.shape[1], -1)  # (C, N*H*W)
    return x.mean(dim=1).tolist(), x.std(dim=1).tolist()


class ImageDataModule(pl.LightningDataModule):
    """Subclasses implement `load_splits` (and `eval_resize` for variable-size images)."""

    def __init__(
        self,
        num_classes: int,
        in_channels: int,
        image_size: int,
        batch_size: int,
        num_workers: int = 0,
        pin_memory: bool = False,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        train_transforms: Sequence[Callable[..., Any]] = (),
        task: str = "multiclass",
    ) -> None:
        super().__init__()
        if task not in ("multiclass", "multilabel"):
            raise ConfigError(f"data.task={task}: must be 'multiclass' or 'multilabel'")
        self.task = task  # what the labels are; the classifier's task.task follows it
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.image_size = image_size
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.mean = list(mean) if mean is not None else None
        self.std = list(std) if std is not None else None
        self.train_augment = list(train_transforms)
        self.splits: dict[str, TransformedDataset] = {}
        self.seed = 0
        self.train_sampler: EpochSampler | None = None
        # (epoch, train batches done) of the checkpoint being resumed: ResumeDataPosition
        self.resume_at: tuple[int, int] | None = None

    # -- subclass hooks ---------------------------------------------------------------
    def load_splits(self) -> dict[str, Any]:
        """Return {'train', 'val', 'test'} datasets of (image, label), images untransformed."""
        raise NotImplementedError

    def eval_resize(self) -> list[Callable[..., Any]]:
        """Deterministic resizing for val/test (and before train augmentation if needed)."""
        return []

    def train_stats_source(self, train: Any) -> torch.Tensor | None:
        """The train images as one tensor, when mean/std are to be computed (mean: null)."""
        return train.images if isinstance(train, TensorImages) else None

    # -- Lightning ----------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        raw = self.load_splits()
        if self.mean is None or self.std is None:
            images = self.train_stats_source(raw["train"])
            if images is None:
                raise ConfigError("data.mean/data.std: must be given for this dataset")
            self.mean, self.std = channel_stats(images)
            log.info("train mean %s std %s", _fmt(self.mean), _fmt(self.std))
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            raise ConfigError(
                f"data.mean/data.std: {len(self.mean)} values "
                f"for data.in_channels={self.in_channels}"
            )
        finish = [
            v.ToImage(),
            v.ToDtype(torch.float32, scale=True),
            v.Normalize(mean=self.mean, std=self.std),
        ]
        train_tf = v.Compose([*self.train_prefix(), *self.train_augment, *finish])
        eval_tf = v.Compose([*self.eval_resize(), *finish])
        # seed_everything(cfg.seed) ran before setup: the run's seed fixes order and augmentation
        self.seed = torch.initial_seed()
        self.splits = {
            name: TransformedDataset(ds, train_tf, self.seed)
            if name == "train"
            else TransformedDataset(ds, eval_tf)
            for name, ds in raw.items()
        }
        log.info(
            "data: %s",
            ", ".join(f"{name} {len(ds)}" for name, ds in self.splits.items()),
        )

    def train_prefix(self) -> list[Callable[..., Any]]:
        """Transforms before the configured augmentation (a resize for fixed-size tensors)."""
        return self.eval_resize()

    def _loader(self, split: str, sampler: EpochSampler | None = None) -> DataLoader:
        loader = ResumableDataLoader if sampler is not None else DataLoader
        return loader(
            self.splits[split],
            batch_size=self.batch_size,
            sampler=sampler,  # None: in order
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    # -- resume position: saved in every checkpoint, restored before the loaders are built
    def state_dict(self) -> dict[str, Any]:
        trainer = self.trainer
        if trainer is None or not trainer.training:
            return {}
        # batches of this epoch already trained (at every point Lightning saves a checkpoint:
        # after a train step, at validation end, at train epoch end)
        done = getattr(trainer.fit_loop.epoch_loop.batch_progress.current, "processed", 0)
        return {"epoch": trainer.current_epoch, "batches": done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            self.resume_at = (int(state["epoch"]), int(state["batches"]))

    def train_dataloader(self) -> DataLoader:
        # Shuffled by (seed, epoch): a resumed run continues the same order (resumable.py).
        self.train_sampler = EpochSampler(len(self.splits["train"]), self.seed)
        return self._loader("train", self.train_sampler)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    @property
    def train_size(self) -> int:
        return len(self.splits["train"]) if self.splits else 0

    @property
    def class_names(self) -> list[str]:
        """One display name per class (the class index unless the dataset has names)."""
        return [str(c) for c in range(self.num_classes)]

    def sample_ids(self, split: str) -> list[str]:
        """A stable name per sample of `split`, in loader order (file ids, else the index)."""
        base = self.splits[split].base
        ids = getattr(base, "ids", None)
        return [str(i) for i in ids] if ids is not None else [str(i) for i in range(len(base))]


def _fmt(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{x:.4f}" for x in values) + "]"
