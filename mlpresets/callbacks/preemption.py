"""Stop on SIGTERM / Ctrl-C the way a scheduler and a user expect: checkpoint, then non-zero.

Released Lightning turns SIGTERM into a SystemExit with status 0 at the next batch and
saves nothing. Here the first SIGTERM or SIGINT lets the current optimizer step finish,
writes `last.ckpt` (atomically, see mlpresets.checkpoint) and exits with 128 + the signal
number (143 for SIGTERM, 130 for SIGINT), so SLURM and shell scripts see an interrupted job
and `resume=RUN_DIR` continues it. A second SIGINT stops at once (status 130, no save).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytorch_lightning as pl

from mlpresets.errors import ConfigError

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(SystemExit):
    """Raised after the checkpoint is written; its code is 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signum = signum


class StopRequest:
    """The signal received so far (None: keep training). Set from a signal handler."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise Interrupted(signum)  # a second Ctrl-C: stop now
        self.signum = signum  # no logging here: a handler may interrupt the logging module

    def install(self) -> None:
        for sig in SIGNALS:
            signal.signal(sig, self.handle)


@contextmanager
def graceful_signals(request: StopRequest) -> Iterator[None]:
    """Route SIGTERM/SIGINT to `request` (main thread only) and restore the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
    request.install()
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class GracefulStop(pl.Callback):
    """Checks for a stop request after every training step; saves last.ckpt and exits.

    `save_every_n_steps` also refreshes last.ckpt every N optimizer steps, so a kill -9 (no
    signal to catch) loses at most N steps: resume= continues from inside the epoch.
    """

    def __init__(self, save_every_n_steps: int | None = None) -> None:
        if save_every_n_steps is not None and save_every_n_steps < 1:
            raise ConfigError(
                f"callbacks.graceful_stop.save_every_n_steps={save_every_n_steps}: must be >= 1"
            )
        self.request = StopRequest()
        self.every = save_every_n_steps

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning registered its own SIGTERM handler (exit 0, no checkpoint) after
        # on_fit_start; ours replaces it. Lightning's teardown restores what was there before.
        if threading.current_thread() is threading.main_thread():
            self.request.install()

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self._stop_if_requested(trainer)
        last = self.last_path(trainer)
        if self.every and last and trainer.global_step % self.every == 0:
            trainer.save_checkpoint(last)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # A signal during the epoch-end validation: last.ckpt of that epoch is already saved.
        self._stop_if_requested(trainer, save=False)

    def _stop_if_requested(self, trainer: pl.Trainer, save: bool = True) -> None:
        requested = self.request.signum is not None
        if trainer.world_size > 1:
            # any rank's signal stops every rank at the same step (one all-reduce per step)
            requested = trainer.strategy.reduce_boolean_decision(requested, all=False)
        if not requested:
            return
        signum = self.request.signum or signal.SIGTERM  # a rank told by another rank
        name = signal.Signals(signum).name
        last = self.last_path(trainer)
        if save and last is not None:
            trainer.save_checkpoint(last)
        if trainer.is_global_zero:
            if last is None:
                where = "no last.ckpt (callbacks.model_checkpoint.save_last is off)"
            else:
                where = f"saved {last}" if save else f"{last} is from the end of the last epoch"
            message = (
                f"{name}: stopped after step {trainer.global_step}; {where}. "
                f"Continue with: python run.py resume={Path(trainer.default_root_dir)}"
            )
            log.warning(message)
            print(message, file=sys.stderr, flush=True)
        raise Interrupted(signum)

    @staticmethod
    def last_path(trainer: pl.Trainer) -> str | None:
        callback = trainer.checkpoint_callback
        dirpath = getattr(callback, "dirpath", None)
        if not dirpath or not getattr(callback, "save_last", False):
            return None
        return str(Path(dirpath) / "last.ckpt")
