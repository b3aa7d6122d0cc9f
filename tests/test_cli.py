"""run.py as a user runs it: startup without torch, bad input, DDP, resume in place."""

from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import FEW, ROOT, cli


def error_line(proc) -> str:  # type: ignore[no-untyped-def]
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, proc.stderr[-2000:]
    return lines[0]


@pytest.mark.parametrize("args", [["--cfg", "job"], ["--help"]])
def test_help_and_cfg_do_not_import_torch(args: list[str], tmp_path: Path) -> None:
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-X", "importtime", str(ROOT / "run.py"), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert "hydra" in imported
    assert not {"torch", "pytorch_lightning", "torchvision", "torchmetrics"} & imported
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("model=resnet999", "Could not find 'model/resnet999'"),
        ("optimizer.lrr=0.1", "Could not override 'optimizer.lrr'"),
        ("trainer=ddp_gpu_typo", "Could not find 'trainer/ddp_gpu_typo'"),
    ],
)
def test_unknown_option_or_key_is_hydras_error_and_creates_nothing(
    override: str, message: str, tmp_path: Path
) -> None:
    proc = cli(override, cwd=tmp_path)
    assert proc.returncode == 1
    assert message in proc.stderr
    assert not (tmp_path / "outputs").exists()


def test_missing_dataset_names_the_root_and_the_package(tmp_path: Path) -> None:
    proc = cli(
        "data=fashion_mnist",
        f"data.root={tmp_path}/nowhere",
        f"hydra.run.dir={tmp_path}/run",
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert error_line(proc) == (
        f"error: data.root={tmp_path}/nowhere: no such directory "
        "(on Debian/Ubuntu: apt-get install dataset-fashion-mnist)"
    )


class _Marker:
    """Unpickling this calls os.mkdir(path): what a malicious checkpoint would do."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.mkdir, (str(self.path),))


def bad_weight_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    good = torch.nn.Linear(2, 2).state_dict()
    truncated = tmp_path / "truncated.pth"
    torch.save(good, truncated)
    truncated.write_bytes(truncated.read_bytes()[:100])
    not_state = tmp_path / "list.pth"
    torch.save([1, 2, 3], not_state)
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as f:
        pickle.dump({"conv1.weight": _Marker(tmp_path / "PWNED")}, f, protocol=2)  # torch.save's
    return {
        "missing": (tmp_path / "nope.pth", "file not found"),
        "truncated": (
            truncated,
            "truncated or corrupt (PytorchStreamReader failed reading zip archive: failed finding central directory)",
        ),
        "empty": (empty, "empty file (an interrupted save?)"),
        "not_state_dict": (not_state, "not a state_dict (expected a dict of name -> tensor)"),
        "evil": (
            evil,
            "refused: not only tensors and plain values (Trying to load unsupported GLOBAL posix.mkdir whose module posix is blocked); nothing was executed (weights_only=True)",
        ),
    }


@pytest.mark.parametrize("case", ["missing", "truncated", "empty", "not_state_dict", "evil"])
def test_bad_pretrained_file_is_one_clear_line(case: str, tmp_path: Path) -> None:
    from mlpresets.errors import ConfigError
    from mlpresets.models.resnet import build_torchvision_resnet

    path, reason = bad_weight_files(tmp_path)[case]
    with pytest.raises(
        ConfigError, match="^" + __import__("re").escape(f"model.pretrained={path}: {reason}") + "$"
    ):
        build_torchvision_resnet("resnet18", num_classes=10, pretrained=str(path))
    assert not (tmp_path / "PWNED").exists()


def test_bad_pretrained_and_checkpoint_via_cli(tmp_path: Path) -> None:
    files = bad_weight_files(tmp_path)
    evil, reason = files["evil"]
    proc = cli(f"model.pretrained={evil}", f"hydra.run.dir={tmp_path}/a", cwd=tmp_path)
    assert proc.returncode == 1
    assert error_line(proc) == f"error: model.pretrained={evil}: {reason}"
    truncated, reason = files["truncated"]
    proc = cli(
        *FEW, "train=false", f"ckpt_path={truncated}", f"hydra.run.dir={tmp_path}/b", cwd=tmp_path
    )
    assert proc.returncode == 1
    assert error_line(proc) == f"error: ckpt_path={truncated}: {reason}"
    proc = cli(*FEW, f"ckpt_path={evil}", f"hydra.run.dir={tmp_path}/c", cwd=tmp_path)
    assert proc.returncode == 1
    assert error_line(proc).startswith(f"error: ckpt_path={evil}: refused: not only tensors")
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.slow
def test_resume_continues_in_place(tmp_path: Path) -> None:
    run_dir = tmp_path / "outputs" / "first"
    args = [*FEW, "scheduler=step", "trainer.enable_progress_bar=false"]
    first = cli(*args, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    events_before = set((run_dir / "tensorboard").glob("events.*"))
    proc = cli(f"resume={run_dir}", "trainer.max_epochs=2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 2
    assert [p.name for p in (tmp_path / "outputs").iterdir()] == ["first"]  # no second run dir
    assert events_before < set((run_dir / "tensorboard").glob("events.*"))  # same log dir, appended
    assert "Restoring states from the checkpoint path" in (run_dir / "run.log").read_text()


def test_resume_of_a_non_run_dir_fails_clearly(tmp_path: Path) -> None:
    proc = cli(f"resume={tmp_path}", cwd=tmp_path)
    assert proc.returncode == 1
    assert (
        error_line(proc)
        == f"error: resume={tmp_path}: no .hydra/overrides.yaml (not a run directory)"
    )


@pytest.mark.slow
def test_ddp_cpu_two_processes_one_run_dir_equal_metrics(tmp_path: Path) -> None:
    proc = cli("trainer=ddp_cpu", *FEW, "trainer.enable_progress_bar=false", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    days = list((tmp_path / "outputs").iterdir())
    runs = [r for d in days for r in d.iterdir()]
    assert len(days) == 1 and len(runs) == 1, runs
    run_dir = runs[0]
    logs = {p.name: p.read_text() for p in run_dir.glob("*.log")}
    assert set(logs) == {"run.log", "train_ddp_process_1.log"}
    finals = {}
    for text in logs.values():
        line = [ln for ln in text.splitlines() if "metrics: {" in ln][-1]
        rank = int(line.split("rank ")[1].split()[0])
        finals[rank] = json.loads(line.split("metrics: ", 1)[1])
    assert set(finals) == {0, 1}
    assert (
        finals[0]["val/acc"] == finals[1]["val/acc"]
        and finals[0]["test/acc"] == finals[1]["test/acc"]
    )
    assert "trainer: CPUAccelerator x 2, strategy DDPStrategy" in logs["run.log"]
    assert json.loads((run_dir / "metrics.json").read_text())["test/acc"] == finals[0]["test/acc"]


@pytest.mark.slow
def test_basic_multirun_writes_one_dir_per_job(tmp_path: Path) -> None:
    proc = cli(
        "-m", *FEW, "trainer.enable_progress_bar=false", "optimizer.lr=0.01,0.1", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    sweeps = list((tmp_path / "outputs" / "multirun").glob("*/*"))
    assert len(sweeps) == 1, sweeps
    jobs = sorted(p for p in sweeps[0].iterdir() if p.is_dir())
    assert [j.name for j in jobs] == ["0", "1"]
    for job, lr in zip(jobs, ("0.01", "0.1"), strict=True):
        assert f"optimizer.lr={lr}" in (job / ".hydra" / "overrides.yaml").read_text()
        assert json.loads((job / "metrics.json").read_text())["epochs"] == 1


def test_a_run_started_in_the_same_second_gets_its_own_dir(tmp_path: Path) -> None:
    from mlpresets.resolvers import unique_dir

    taken = tmp_path / "day" / "10-00-00"
    assert unique_dir(str(taken)) == str(taken)
    assert taken.is_dir()  # claimed: a second process started now cannot get it too
    assert unique_dir(str(taken)) == f"{taken}_1"
    (tmp_path / "day" / "10-00-00_2").mkdir()
    assert unique_dir(str(taken)) == f"{taken}_3"
