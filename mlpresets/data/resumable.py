"""A train order and augmentation that depend only on (seed, epoch, sample): exact resume.

Lightning restores model, optimizer, scheduler and loop counters, but a plain shuffled
DataLoader starts a new random order after a resume, and worker processes draw new
augmentation randomness: a run resumed mid-epoch trains on different batches than the run
it continues. Here the sampler's permutation is a function of (seed, epoch), it can skip the
batches already trained, and each sample's augmentation is seeded from (seed, epoch, index),
so neither the resume point nor the number of workers changes what the network sees.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Sampler

# torch.initial_seed() (the run's seed, or a random 64-bit one without seed_everything) can
# exceed what manual_seed takes: every derived seed is reduced into [0, 2**63 - 1).
SEED_RANGE = 2**63 - 1


class EpochSampler(Sampler[int]):
    """A permutation of range(n) fixed by (seed, epoch), yielded as keys (epoch + 1) * n + i.

    The key carries the epoch to the dataset inside worker processes (persistent workers
    never see the main process's attributes change); SeededTransform decodes it. Lightning
    calls set_epoch before every epoch; without it (a wrapping DistributedSampler) each new
    iteration advances the epoch by itself.
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.seed = seed
        self.epoch = 0
        self._iterated_epoch: int | None = None
        self._skip = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self._iterated_epoch = None  # an explicit epoch is used as given, even twice

    def skip(self, samples: int) -> None:
        """The next iteration starts after this many samples of its epoch (a resume)."""
        self._skip = samples

    def order(self, epoch: int) -> list[int]:
        g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) % SEED_RANGE)
        return torch.randperm(self.n, generator=g).tolist()

    def __iter__(self) -> Iterator[int]:
        if self._iterated_epoch == self.epoch:
            self.epoch += 1  # iterated twice without set_epoch: a new epoch
        self._iterated_epoch = self.epoch
        start, self._skip = self._skip, 0

        base = (self.epoch + 1) * self.n
        return iter([base + i for i in self.order(self.epoch)[start:]])

    def __len__(self) -> int:
        return self.n


def decode(key: int, n: int) -> tuple[int | None, int]:
    """(epoch, index) of an EpochSampler key; (None, key) for a plain index."""
    if key < n:
        return None, key
    epoch, index = divmod(key, n)
    return epoch - 1, index


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed per (seed, epoch, sample), stable across processes and Python runs."""
    g = torch.Generator().manual_seed(seed % SEED_RANGE)
    mix = torch.randint(0, 2**62, (2,), generator=g).tolist()
    return (seed + mix[0] * (epoch + 1) + mix[1] * (index + 1)) % SEED_RANGE


class ResumableDataLoader(DataLoader):
    """A DataLoader that tells Lightning it resumes mid-epoch correctly (no warning).

    The position itself travels in the RNGStateCheckpoint callback's state (epoch, batches
    done), which skips the EpochSampler on resume: nothing to keep here. Lightning's own
    loader-state path is avoided because it is skipped when configure_optimizers asks for
    estimated_stepping_batches (Lightning issue #20550), as OneCycleLR does.
    """

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class ResumeDataPosition(pl.Callback):
    """On resume, restart the train data where the checkpoint left it.

    The datamodule saves (epoch, batches trained in it) in every checkpoint. Lightning builds
    the train iterator, and draws its first batch, before it restores the loops, so the
    first epoch of a resumed run would start at the wrong place: here, once the loops are
    restored, the sampler gets the restored epoch, skips the batches already trained (a
    mid-epoch checkpoint) and the iterator is rebuilt.
    """

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        datamodule = trainer.datamodule  # type: ignore[attr-defined]
        at = getattr(datamodule, "resume_at", None)
        sampler = getattr(datamodule, "train_sampler", None)
        if at is None or not isinstance(sampler, EpochSampler):
            return
        datamodule.resume_at = None
        epoch, batches = at
        sampler.set_epoch(trainer.current_epoch)
        if trainer.current_epoch == epoch:
            sampler.skip(batches * datamodule.batch_size)
        # Lightning's (private) fetcher: iterating it again re-creates the loader iterator
        fetcher = trainer.fit_loop._data_fetcher
        if fetcher is not None:
            iter(fetcher)
