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

from mlpresets.checkpoint import CheckpointSaveError, atomic_save
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


# ResNet-20 on digits, 3 epochs of 20 steps: seconds per run.
SHORT = [
    "model=resnet20",
    "scheduler=step",
    "trainer.max_epochs=3",
    "trainer.enable_progress_bar=false",
]


def test_sigterm_saves_last_ckpt_exits_143_and_resume_completes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    proc = cli(*SHORT, *fault(25, "SIGTERM"), f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert proc.returncode == 143, proc.stderr[-2000:]
    # the signal lands after step 25; the step in flight finishes, then last.ckpt is written
    assert proc.stderr.strip().splitlines()[-1] == (
        f"SIGTERM: stopped after step 26; saved {run_dir / 'checkpoints' / 'last.ckpt'}. "
        f"Continue with: python run.py resume={run_dir}"
    )
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 26
    assert not (run_dir / "metrics.json").exists()
    again = cli(*SHORT, "~callbacks.fault", f"resume={run_dir}", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-2000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 3 and metrics["test/acc"] > 0.5


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


def test_kill_9_mid_epoch_then_resume_ends_exactly_like_an_uninterrupted_run(
    tmp_path: Path,
) -> None:
    every = ["callbacks.graceful_stop.save_every_n_steps=7"]
    whole = cli(*SHORT, *every, f"hydra.run.dir={tmp_path / 'whole'}", cwd=tmp_path)
    assert whole.returncode == 0, whole.stderr[-2000:]
    run_dir = tmp_path / "killed"
    # 20 steps an epoch: last.ckpt at step 28 (mid epoch 2), killed after step 31
    killed = cli(*SHORT, *every, *fault(31, "SIGKILL"), f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert killed.returncode == -9
    assert torch.load(run_dir / "checkpoints/last.ckpt", weights_only=True)["global_step"] == 28
    resumed = cli(*SHORT, *every, "~callbacks.fault", f"resume={run_dir}", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert final(run_dir) == final(tmp_path / "whole")
