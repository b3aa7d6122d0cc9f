"""Every file of every config group composes, instantiates and trains a few real batches."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torchvision

from tests.conftest import CONF, FASHION, FEW, ROOT, cli, train, write_cifar, write_image_tree
from tests.test_voc import make_voc


def options(group: str) -> list[str]:
    folder = ROOT / "experiments" if group == "experiment" else CONF / group
    # _name.yaml files are shared bases (extended by the options), not options themselves.
    return sorted(p.stem for p in folder.glob("*.yaml") if not p.stem.startswith("_"))


GROUPS = [
    "data",
    "model",
    "optimizer",
    "scheduler",
    "trainer",
    "logger",
    "callbacks",
    "debug",
    "experiment",
]
SUBPROCESS_TRAINERS = {"ddp", "ddp_cpu"}  # they re-launch run.py per rank
SLOW = {("trainer", "ddp"), ("trainer", "ddp_cpu"), ("debug", "overfit")} | {
    ("experiment", o) for o in options("experiment")
}
CASES = [
    pytest.param(g, o, id=f"{g}={o}", marks=[pytest.mark.slow] if (g, o) in SLOW else [])
    for g in GROUPS
    for o in options(g)
]


@pytest.fixture(scope="session")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("datasets")
    write_cifar(root / "cifar10", "cifar10")
    write_cifar(root / "cifar100", "cifar100", n_train=200)
    write_image_tree(root / "folder", {"train": 4, "val": 2, "test": 2})
    write_image_tree(root / "imagenet", {"train": 4, "val": 2})
    make_voc(root / "voc", n=12, positive=0.4)
    torch.save(torchvision.models.resnet18().state_dict(), root / "resnet18.pth")
    return {
        "cifar10": root / "cifar10",
        "cifar100": root / "cifar100",
        "folder": root / "folder",
        "imagenet": root / "imagenet",
        "voc": root / "voc",
        "resnet18": root / "resnet18.pth",
    }


def data_overrides(name: str, datasets: dict[str, Path]) -> list[str]:
    """Point a data option at the small generated copy of its on-disk format."""
    if name == "fashion_mnist" and not FASHION.is_dir():
        pytest.skip(
            "Fashion-MNIST files absent (apt-get install dataset-fashion-mnist; CI installs it)"
        )
    small = {
        "cifar10": [f"data.root={datasets['cifar10']}", "data.val_size=10", "data.num_workers=0"],
        "cifar100": [f"data.root={datasets['cifar100']}", "data.val_size=40", "data.num_workers=0"],
        "imagefolder": [
            f"data.root={datasets['folder']}",
            "data.num_classes=3",
            "data.image_size=32",
            "data.resize_size=36",
            "data.num_workers=0",
            "data.batch_size=4",
        ],
        "imagenet": [
            f"data.root={datasets['imagenet']}",
            "data.num_classes=3",
            "data.image_size=32",
            "data.resize_size=36",
            "data.num_workers=0",
            "data.batch_size=4",
        ],
        "voc2012": [
            f"data.root={datasets['voc']}",
            "data.image_size=32",
            "data.resize_size=36",
            "data.num_workers=0",
            "data.batch_size=4",
        ],
    }
    return small.get(name, [])


def test_every_group_has_options() -> None:
    for group in GROUPS:
        assert options(group), f"conf/{group}/ has no options"
    assert {
        "resnet18",
        "resnet34",
        "resnet50",
        "resnet101",
        "resnet152",
        "wide_resnet50_2",
        "resnext50_32x4d",
        "resnet20",
        "resnet32",
        "resnet44",
        "resnet56",
        "resnet110",
    } <= set(options("model"))
    assert {"cpu", "gpu", "ddp", "ddp_cpu", "dp", "default"} <= set(options("trainer"))


@pytest.mark.parametrize(("group", "option"), CASES)
def test_group_file_trains(
    group: str, option: str, tmp_path: Path, datasets: dict[str, Path]
) -> None:
    overrides = [f"{group}={option}"]
    data = option if group == "data" else None
    if group == "experiment":
        data = {
            "fashion_mnist_resnet20": "fashion_mnist",
            "fashion_mnist_resnet18": "fashion_mnist",
            "cifar10_resnet56": "cifar10",
            "imagenet_resnet50": "imagenet",
            "voc2012_resnet18": "voc2012",
        }.get(option)
        if option == "voc2012_resnet18":
            overrides += [f"model.pretrained={datasets['resnet18']}"]
    if data:
        overrides += data_overrides(data, datasets)
    if group == "data" and option in ("fashion_mnist", "cifar10", "cifar100", "fake"):
        overrides += ["model.stem=small"]
    if group == "experiment":
        overrides += ["data.batch_size=8"]
    if group != "debug":
        overrides += FEW
    run_dir = tmp_path
    if group == "trainer" and option in SUBPROCESS_TRAINERS:
        run_dir = tmp_path / "run"
        proc = cli(
            *overrides,
            "trainer.enable_progress_bar=false",
            f"hydra.run.dir={run_dir}",
            cwd=tmp_path,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert "DDPStrategy" in (run_dir / "run.log").read_text()
    else:
        metrics = train(tmp_path, *overrides)
    if option == "fast_dev_run":
        # One batch each; Lightning disables checkpoints and loggers in this mode.
        assert metrics["epochs"] == 1 and 0.0 <= metrics["test/acc"] <= 1.0
        return
    assert math.isfinite(metrics["train/loss_epoch"])
    assert 0.0 <= metrics["test/mAP" if data == "voc2012" else "test/acc"] <= 1.0
    assert metrics["epochs"] == (30 if option == "overfit" else 1)  # debug settings beat presets
    ckpt = torch.load(run_dir / metrics["best_ckpt"], weights_only=True)
    assert ckpt["hyper_parameters"]["num_classes"] > 0
