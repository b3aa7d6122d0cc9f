"""Loading .pth / .ckpt files safely, with one-line errors that name the file.

Everything goes through torch.load(weights_only=True): a file whose unpickling would import
or call anything beyond tensors and primitives is refused, never retried unsafely.
"""

from __future__ import annotations

import io
import os
import pickle
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from mlpresets.errors import ConfigError


def safe_load(path: str | Path, key: str) -> Any:
    """torch.load(path, weights_only=True), with errors that name the setting `key`."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(f"{key}={path}: file not found")
    if p.stat().st_size == 0:
        raise ConfigError(f"{key}={path}: empty file (an interrupted save?)")
    try:
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        msg = str(err)
        if msg.startswith("Weights only load failed"):
            raise ConfigError(
                f"{key}={path}: refused: not only tensors and plain values "
                f"({_unpickler_reason(msg)}); nothing was executed (weights_only=True)"
            ) from None
        raise ConfigError(f"{key}={path}: not a PyTorch file ({msg.splitlines()[0]})") from None
    except (EOFError, RuntimeError, zipfile.BadZipFile, ValueError, OSError) as err:
        first = str(err).splitlines()[0].split(". ")[0] if str(err) else type(err).__name__
        raise ConfigError(f"{key}={path}: truncated or corrupt ({first})") from None


def _unpickler_reason(msg: str) -> str:
    """The line of torch's weights_only message that says what was refused."""
    for line in msg.splitlines()[1:]:
        line = line.strip().removeprefix("WeightsUnpickler error:").strip()
        if line and not line.startswith(("Please file", "Check the documentation")):
            return line.rstrip(".").split(" was not an allowed")[0]
    return "unsupported content"


def state_dict_from(obj: Any, key: str, path: str | Path) -> dict[str, torch.Tensor]:
    """Accept a plain state_dict or a Lightning checkpoint (its `state_dict`, `net.` stripped)."""
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        state = obj["state_dict"]
        if any(k.startswith("net.") for k in state):
            # ours: the network's tensors only (the task's metric states are saved beside them)
            state = {k: v for k, v in state.items() if k.startswith("net.")}
        obj = {k.removeprefix("net."): v for k, v in state.items()}
    if (
        not isinstance(obj, dict)
        or not obj
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    ):
        raise ConfigError(f"{key}={path}: not a state_dict (expected a dict of name -> tensor)")
    return obj


class CheckpointSaveError(ConfigError):
    """A checkpoint could not be written; the file it would have replaced is untouched."""


def atomic_save(obj: Any, path: str | Path) -> None:
    """torch.save `obj` to `path` so that `path` is always either the old or the new file.

    The bytes go to a temporary file in the same directory (never the system temp dir: a
    rename across filesystems is a copy), are flushed and fsynced, then renamed over `path`
    (atomic on POSIX) and the directory is fsynced so the rename itself survives a crash. A
    failure (disk full, quota, permissions) removes the temporary file, leaves `path` byte
    for byte as it was and raises CheckpointSaveError naming it.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        stale.unlink(missing_ok=True)  # left by a process killed mid-write
    buffer = io.BytesIO()
    torch.save(obj, buffer)  # serialize first: a write error is then a plain OSError
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a checkpoint is a normal file
        with os.fdopen(fd, "wb") as f:
            f.write(buffer.getbuffer())
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        kept = "the previous file is unchanged" if target.exists() else "no previous file"
        raise CheckpointSaveError(
            f"{target}: checkpoint not saved ({err.strerror or err}); {kept}"
        ) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SafeCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint IO: atomic, fsynced saves; loads only through safe_load."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None or "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)  # remote: fsspec's way
            return
        atomic_save(checkpoint, path)

    def load_checkpoint(
        self, path: Any, map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        ckpt = safe_load(path, "ckpt_path")
        if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
            raise ConfigError(f"ckpt_path={path}: not a Lightning checkpoint (no state_dict)")
        return ckpt
