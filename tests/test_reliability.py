"""Faults injected for real: a full disk, interrupted writes, bad checkpoint files."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mlpresets.checkpoint import CheckpointSaveError, atomic_save
from mlpresets.data.resumable import EpochSampler, decode
from tests.conftest import FEW, cli


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs mounted for the test: a filesystem that really fills up."""
    mount = tmp_path / "small"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(folder: Path, leave: int) -> Path:
    """Write a filler file until only about `leave` bytes are free on folder's filesystem."""
    stat = os.statvfs(folder)
    free = stat.f_bavail * stat.f_frsize
    filler = folder / "filler.bin"
    with filler.open("wb") as f:
        f.write(b"\0" * max(0, free - leave))
    return filler


def test_atomic_save_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "ckpt" / "last.ckpt"
    atomic_save({"w": torch.zeros(3)}, target)
    atomic_save({"w": torch.ones(3)}, target)
    assert torch.load(target, weights_only=True)["w"].tolist() == [1.0, 1.0, 1.0]
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.ckpt"]  # no temp left
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_save_into_a_full_disk_keeps_the_previous_file(small_fs: Path) -> None:
    target = small_fs / "last.ckpt"
    atomic_save({"w": torch.zeros(1000)}, target)
    before = sha256(target)
    fill(small_fs, leave=64 * 1024)
    with pytest.raises(
        CheckpointSaveError,
        match=rf"^{target}: checkpoint not saved \(No space left on device\); the previous file is unchanged$",
    ):
        atomic_save({"w": torch.zeros(1_000_000)}, target)  # 4 MB into 64 KiB
    assert sha256(target) == before
    assert sorted(p.name for p in small_fs.iterdir()) == ["filler.bin", "last.ckpt"]


def test_a_temp_file_left_by_a_killed_save_is_cleaned_up_and_never_read(tmp_path: Path) -> None:
    target = tmp_path / "last.ckpt"
    atomic_save({"step": 1}, target)
    (tmp_path / ".last.ckpt.abc123.tmp").write_bytes(b"half a checkpoint")
    atomic_save({"step": 2}, target)
    assert torch.load(target, weights_only=True) == {"step": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_training_into_a_full_disk_stops_with_one_line_and_resumes_after(
    small_fs: Path, tmp_path: Path
) -> None:
    """ResNet-20 (2.2 MB checkpoints) on digits; the disk fills up between two epochs."""
    run_dir = small_fs / "run"
    common = [
        "model=resnet20",
        "scheduler=step",  # per-epoch: extending max_epochs on resume keeps it valid
        *FEW,
        "trainer.enable_progress_bar=false",
        "callbacks.model_checkpoint.save_top_k=0",  # only last.ckpt: the one to protect
    ]
    first = cli(*common, "trainer.max_epochs=1", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    last = run_dir / "checkpoints" / "last.ckpt"
    before = sha256(last)
    filler = fill(small_fs, leave=256 * 1024)
    full = cli(*common, "trainer.max_epochs=2", f"resume={run_dir}", cwd=tmp_path)
    assert full.returncode == 1
    assert full.stderr.strip().splitlines()[-1] == (
        f"error: {last}: checkpoint not saved (No space left on device); "
        "the previous file is unchanged"
    )
    assert sha256(last) == before
    assert sorted(p.name for p in last.parent.iterdir()) == ["last.ckpt"]
    assert torch.load(last, weights_only=True)["global_step"] == 3  # FEW: 3 batches an epoch
    filler.unlink()
    again = cli(*common, "trainer.max_epochs=2", f"resume={run_dir}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    assert torch.load(last, weights_only=True)["global_step"] == 6


def fault(step: int, sig: str, times: int = 1) -> list[str]:
    return [
        "+callbacks.fault._target_=tests.faults.SignalAt",
        f"+callbacks.fault.step={step}",
        f"+callbacks.fault.signal={sig}",
        f"+callbacks.fault.times={times}",
    ]


# ResNet-20 on digits, 2 epochs of 10 steps (batch 128): seconds per run.
SHORT = [
    "model=resnet20",
    "scheduler=step",
    "data.batch_size=128",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
]


def test_sigterm_saves_last_ckpt_exits_143_and_resume_completes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = cli(*SHORT, *fault(13, "SIGTERM"), f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert proc.returncode == 143, proc.stderr[-2000:]
    # the signal lands after step 13; the step in flight finishes, then last.ckpt is written
    assert proc.stderr.strip().splitlines()[-1] == (
        f"SIGTERM: stopped after step 14; saved {run_dir / 'checkpoints' / 'last.ckpt'}. "
        f"Continue with: python run.py resume={run_dir}"
    )
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 14
    assert not (run_dir / "metrics.json").exists()
    again = cli(*SHORT, "~callbacks.fault", f"resume={run_dir}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and metrics["test/acc"] > 0.5


def test_one_ctrl_c_saves_and_exits_130_two_stop_at_once(tmp_path: Path) -> None:
    once = cli(*SHORT, *fault(5, "SIGINT"), f"hydra.run.dir={tmp_path / 'once'}", cwd=tmp_path)
    assert once.returncode == 130, once.stderr[-2000:]
    assert "SIGINT: stopped after step 6; saved" in once.stderr
    assert (
        torch.load(tmp_path / "once/checkpoints/last.ckpt", weights_only=True)["global_step"] == 6
    )
    twice = cli(*SHORT, *fault(5, "SIGINT", 2), f"hydra.run.dir={tmp_path / 'twice'}", cwd=tmp_path)
    assert twice.returncode == 130, twice.stderr[-2000:]
    assert "stopped after step" not in twice.stderr
    assert not (tmp_path / "twice/checkpoints/last.ckpt").exists()  # the first epoch never ended


def final(run_dir: Path) -> dict[str, float]:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    keys = ("val/acc", "val/loss", "test/acc", "test/loss", "train/loss_epoch")
    return {k: metrics[k] for k in keys}


EVERY = ["callbacks.graceful_stop.save_every_n_steps=3"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    cwd = tmp_path_factory.mktemp("whole")
    proc = cli(*SHORT, *EVERY, f"hydra.run.dir={cwd / 'run'}", cwd=cwd)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return final(cwd / "run")


KILL_SAVE = ["+callbacks.fault._target_=tests.faults.KillDuringSave", "+callbacks.fault.step=15"]


@pytest.mark.parametrize(
    ("kill", "resumes_at"),
    [
        pytest.param(fault(5, "SIGKILL"), 3, id="epoch0-mid"),  # 10 steps an epoch
        pytest.param(fault(14, "SIGKILL"), 12, id="epoch1-mid"),
        pytest.param(KILL_SAVE, 12, id="inside-a-checkpoint-write"),
    ],
)
def test_kill_9_then_resume_ends_exactly_like_an_uninterrupted_run(
    kill: list[str], resumes_at: int, uninterrupted: dict[str, float], tmp_path: Path
) -> None:
    run_dir = tmp_path / "run"
    killed = cli(*SHORT, *EVERY, *kill, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert killed.returncode == -9
    last = run_dir / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == resumes_at  # intact, loads
    resumed = cli(*SHORT, *EVERY, "~callbacks.fault", f"resume={run_dir}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert final(run_dir) == uninterrupted
    assert not list(last.parent.glob(".*.tmp"))  # a killed write's temp file is cleaned up
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # one run dir, continued in place
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    for tag in ("train/loss_step", "val/acc", "lr"):
        steps = [e.step for e in events.Scalars(tag)]
        assert steps == sorted(set(steps)), tag  # no step twice: the killed tail was purged
    assert [e.step for e in events.Scalars("val/acc")] == [9, 19]


def test_epoch_sampler_order_is_a_function_of_seed_and_epoch_and_skips_on_resume() -> None:
    a, b = EpochSampler(10, seed=7), EpochSampler(10, seed=7)
    a.set_epoch(3)
    b.set_epoch(3)
    keys = list(a)
    assert keys == list(b) and sorted(decode(k, 10)[1] for k in keys) == list(range(10))
    assert {decode(k, 10)[0] for k in keys} == {3}
    b.set_epoch(4)
    assert [decode(k, 10)[1] for k in b] != [decode(k, 10)[1] for k in keys]
    a.set_epoch(3)
    a.skip(4)
    assert list(a) == keys[4:]  # the resumed epoch continues where the checkpoint was
    a.set_epoch(3)
    assert list(a) == keys  # skipping is for one iteration only
    # iterated again without set_epoch (inside a DistributedSampler): the next epoch
    assert {decode(k, 10)[0] for k in a} == {4}
    huge = EpochSampler(5, seed=2**64 - 1)  # torch.initial_seed() without seed_everything
    assert sorted(decode(k, 5)[1] for k in huge) == list(range(5))


def test_augmentation_is_seeded_per_epoch_and_sample_not_by_the_process() -> None:
    from torchvision.transforms import v2

    from mlpresets.data.base import TensorImages, TransformedDataset

    images = TensorImages(torch.rand(4, 3, 8, 8), torch.arange(4))
    crop = v2.RandomResizedCrop(8, antialias=True)
    data = TransformedDataset(images, crop, seed=11)
    key = (2 + 1) * 4 + 1  # EpochSampler's key for epoch 2, sample 1
    first = data[key][0]
    torch.manual_seed(12345)  # the ambient RNG does not matter
    assert torch.equal(data[key][0], first)
    assert not torch.equal(data[key + 4][0], first)  # epoch 3: another crop
    assert data[1][1] == 1  # a plain index still works (eval, diagnostics)


def test_save_every_n_steps_must_be_positive() -> None:
    from mlpresets.callbacks.preemption import GracefulStop
    from mlpresets.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"^callbacks.graceful_stop.save_every_n_steps=0: must be >= 1$"
    ):
        GracefulStop(save_every_n_steps=0)
    assert GracefulStop(save_every_n_steps=5).every == 5
