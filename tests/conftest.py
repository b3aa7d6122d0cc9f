"""Shared fixtures: compose the real config, run the real CLI, generate on-disk datasets."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from mlpresets import resolvers

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
FASHION = Path("/usr/share/datasets/fashion-mnist")

# Quiet, fast defaults for in-process runs: no live progress bar, no summary table.
QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
# A few batches of each split, one epoch: the whole pipeline in seconds.
FEW = ["debug=limit", "trainer.limit_train_batches=3"]

resolvers.register()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--native-build",
        default=None,
        help="the folder holding the mlpresets package whose native extension is under test "
        "(make native-asan passes its AddressSanitizer build)",
    )


def make_cfg(out: Path, *overrides: str) -> DictConfig:
    """The real composed config, writing under `out`."""
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("config", overrides=[f"paths.output_dir={out}", *QUIET, *overrides])


def train(out: Path, *overrides: str) -> dict[str, Any]:
    """Run mlpresets.train.run in-process and return its metrics.json."""
    from mlpresets.train import run

    run(make_cfg(out, *overrides))
    return json.loads((out / "metrics.json").read_text())


def cli(
    *args: str, cwd: Path, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python run.py ARGS` as a user types it (from `cwd`)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HYDRA_FULL_ERROR": "0", **(env or {})},
    )


@pytest.fixture
def run_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    return lambda *overrides: make_cfg(tmp_path, *overrides)


# -- on-disk datasets in their real formats, small --------------------------------------
def write_cifar(root: Path, variant: str = "cifar10", n_train: int = 60, n_test: int = 20) -> Path:
    """torchvision's CIFAR python layout: pickled dicts with uint8 `data` (N, 3072)."""
    rng = np.random.default_rng(0)
    classes = 10 if variant == "cifar10" else 100
    folder = root / ("cifar-10-batches-py" if variant == "cifar10" else "cifar-100-python")
    folder.mkdir(parents=True, exist_ok=True)
    key = "labels" if variant == "cifar10" else "fine_labels"

    def batch(n: int) -> dict[str, Any]:
        return {
            "data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8),
            key: rng.integers(0, classes, size=n).tolist(),
        }

    names = [f"data_batch_{i}" for i in range(1, 6)] if variant == "cifar10" else ["train"]
    for name in names:
        (folder / name).write_bytes(pickle.dumps(batch(n_train // len(names))))
    (folder / ("test_batch" if variant == "cifar10" else "test")).write_bytes(
        pickle.dumps(batch(n_test))
    )
    return root


def write_image_tree(root: Path, splits: dict[str, int], classes: int = 3, size: int = 40) -> Path:
    """root/<split>/<class>/<i>.png (and .jpg) with class-dependent colour so it is learnable."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, per_class in splits.items():
        for c in range(classes):
            d = root / split / f"class_{c}"
            d.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = rng.integers(0, 60, size=(size, size, 3), dtype=np.uint8)
                pixels[..., c % 3] += 180
                ext = "png" if i % 2 else "jpg"
                Image.fromarray(pixels).save(d / f"{i}.{ext}")
    return root


# -- a real PostgreSQL server for the multi-worker sweep tests ---------------------------
PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Any:
    """A PostgreSQL 15 server on 127.0.0.1 with a temporary data dir, stopped at the end.

    postgres refuses to run as root, so as root the server runs as the `postgres` user the
    Debian package creates. Installs the package when it is missing (as .ci/run does)."""
    import shutil
    import time

    if not (PG_BIN / "initdb").exists():
        if os.geteuid() != 0:
            pytest.fail(f"{PG_BIN}/initdb missing: apt-get install postgresql (as root)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "postgresql"], check=True, env=env)
    import tempfile

    # not under pytest's tmp root: that is private to root, and postgres must traverse it
    base = Path(tempfile.mkdtemp(prefix="mlpresets-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def pg(*args: str) -> None:
        proc = subprocess.run([*as_user, *args], capture_output=True, text=True)
        assert proc.returncode == 0, f"{args[0]}: {proc.stderr[-2000:]}"

    pg(str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c max_connections=50"
    pg(
        str(PG_BIN / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(base / "log"),
        "-o",
        options,
        "-w",
        "start",
    )
    try:
        import psycopg

        for _ in range(50):
            try:
                with psycopg.connect(
                    f"host=127.0.0.1 port={port} user=postgres dbname=postgres", autocommit=True
                ) as conn:
                    conn.execute("CREATE DATABASE optuna")
                break
            except psycopg.OperationalError:
                time.sleep(0.2)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/optuna"
    finally:
        pg(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)
