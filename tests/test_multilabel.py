"""task: multilabel on Pascal VOC2012: BCE, mAP, tail accuracy, ranked predictions."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from hydra.utils import instantiate
from sklearn.metrics import average_precision_score
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mlpresets.data.voc import VOC_CLASSES, voc_dir
from mlpresets.errors import ConfigError, user_error
from mlpresets.optim import optimizer_spec
from mlpresets.tasks.multilabel import tail_accuracy
from tests.conftest import FEW, cli, make_cfg, train
from tests.test_voc import make_voc

# The report's recipe at a size these CPUs train in seconds (the preset's 224 px is for GPUs).
SMALL = ["data.image_size=32", "data.resize_size=36", "data.batch_size=8"]


@pytest.fixture(scope="module")
def voc(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray], Path]:
    """A 36-image VOC tree and a torchvision ResNet-18 state_dict saved as "pretrained"."""
    root = tmp_path_factory.mktemp("voc")
    flags = make_voc(root / "data", n=36, positive=0.4, size=40)
    torch.manual_seed(0)
    weights = root / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), weights)
    return root / "data", flags, weights


def preset(voc: tuple[Path, dict[str, np.ndarray], Path], *more: str) -> list[str]:
    data, _, weights = voc
    return [
        "experiment=voc2012_resnet18",
        f"data.root={data}",
        f"model.pretrained={weights}",
        *SMALL,
        *more,
    ]


def read_rankings(folder: Path) -> dict[str, list[tuple[str, float, int]]]:
    out = {}
    for name in VOC_CLASSES:
        with (folder / f"{name}.csv").open() as f:
            rows = list(csv.DictReader(f))
        out[name] = [(r["image_id"], float(r["score"]), int(r["label"])) for r in rows]
    return out


def tail_by_hand(scores: np.ndarray, labels: np.ndarray, t: float) -> float:
    """Mean over classes (with any image scored >= t) of the positives' share among them."""
    shares = []
    for c in range(scores.shape[1]):
        chosen = labels[scores[:, c] >= t, c]
        if len(chosen):
            shares.append(chosen.mean())
    return float(np.mean(shares))


def test_tail_accuracy_on_a_hand_made_case() -> None:
    scores = torch.tensor([[0.9, 0.2], [0.7, 0.8], [0.6, 0.55], [0.1, 0.6]])  # (4, 2)
    labels = torch.tensor([[1, 0], [0, 1], [1, 0], [0, 1]])
    curve = tail_accuracy(scores, labels, points=3)
    assert [p["threshold"] for p in curve] == pytest.approx([0.5, 0.7, 0.9])
    # t=0.5: class 0 -> {0.9:1, 0.7:0, 0.6:1} = 2/3; class 1 -> {0.8:1, 0.55:0, 0.6:1} = 2/3
    # t=0.7: class 0 -> {1, 0} = 1/2; class 1 -> {1} = 1
    # t=0.9: class 0 -> {1} = 1; class 1 has no image at or above 0.9: left out
    assert [p["tail_acc"] for p in curve] == pytest.approx([2 / 3, 0.75, 1.0])
    assert tail_accuracy(scores * 0.4, labels) == []  # no score reaches 0.5


def test_voc_preset_trains_and_its_reports_match_the_saved_predictions(
    voc: tuple[Path, dict[str, np.ndarray], Path], tmp_path: Path
) -> None:
    _, flags, _ = voc
    metrics = train(tmp_path, *preset(voc, "trainer.max_epochs=2", "data.num_workers=0"))
    assert metrics["epochs"] == 2 and metrics["data/skipped"] == {"train": 0, "val": 0, "test": 0}
    rankings = read_rankings(tmp_path / metrics["predictions"])
    val_ids = sorted(flags)[24:]  # make_voc: the last third is val, which test reads
    scores = np.zeros((len(val_ids), 20))
    labels = np.zeros((len(val_ids), 20), dtype=int)
    for c, name in enumerate(VOC_CLASSES):
        rows = rankings[name]
        assert sorted(r[0] for r in rows) == val_ids
        assert [r[1] for r in rows] == sorted((r[1] for r in rows), reverse=True)
        for image_id, score, label in rows:
            assert label == int(flags[image_id][c] == 1)  # difficult: ignore (a negative)
            scores[val_ids.index(image_id), c] = score
            labels[val_ids.index(image_id), c] = label
    assert labels.sum(axis=0).min() > 0  # every class has a val positive: AP is defined
    ap = [average_precision_score(labels[:, c], scores[:, c]) for c in range(20)]
    assert metrics["test/per_class"] == pytest.approx(ap, abs=1e-5)
    assert metrics["test/mAP"] == pytest.approx(np.mean(ap), abs=1e-5)
    for c, name in enumerate(VOC_CLASSES):
        assert metrics[f"test/ap_class/{name}"] == pytest.approx(ap[c], abs=1e-5)
    # monitor follows the task: the best checkpoint is the best val/mAP
    assert metrics["val/mAP_best"] >= metrics["val/mAP"] - 1e-7
    assert metrics["best_ckpt"].startswith("checkpoints/epoch")

    curve = metrics["test/tail_acc"]
    assert len(curve) == 20 and curve[0]["threshold"] == 0.5
    assert curve[-1]["threshold"] == pytest.approx(scores.max(), abs=1e-6)
    for point in curve:
        expected = tail_by_hand(scores, labels, point["threshold"] - 1e-7)
        assert point["tail_acc"] == pytest.approx(expected, abs=1e-6)
    events = EventAccumulator(str(tmp_path / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    logged = events.Scalars("test/tail_acc")
    assert [e.step for e in logged] == [round(p["threshold"] * 1000) for p in curve]
    assert [e.value for e in logged] == pytest.approx([p["tail_acc"] for p in curve], abs=1e-6)
    assert "val/mAP" in events.Tags()["scalars"]


def test_pos_weight_auto_weights_positives_by_the_train_frequencies(
    voc: tuple[Path, dict[str, np.ndarray], Path], tmp_path: Path
) -> None:
    data, flags, _ = voc
    cfg = make_cfg(tmp_path, *preset(voc, "task.pos_weight=auto", "model.pretrained=null"))
    datamodule = instantiate(cfg.data)
    task = instantiate(
        cfg.task, net=instantiate(cfg.model), optimizer=optimizer_spec(cfg.optimizer)
    )
    task._trainer = SimpleNamespace(datamodule=datamodule)
    task.setup("fit")
    train_flags = np.stack([flags[i] for i in sorted(flags)[:24]])  # (24, 20)
    freq = (train_flags == 1).mean(axis=0)
    assert task.pos_weight.tolist() == pytest.approx(((1 - freq) / freq).tolist(), rel=1e-5)
    x, y = next(iter(datamodule.train_dataloader()))
    loss, logits = task._step((x, y))
    by_hand = F.binary_cross_entropy_with_logits(logits, y, pos_weight=torch.tensor(freq).float())
    assert not torch.isclose(loss, by_hand)  # the weights are negatives/positives, not freq
    weighted = F.binary_cross_entropy_with_logits(
        logits, y, pos_weight=torch.tensor((1 - freq) / freq).float()
    )
    assert torch.isclose(loss, weighted)


def test_the_monitored_metric_follows_the_task(tmp_path: Path) -> None:
    digits = make_cfg(tmp_path)
    assert (digits.task.task, digits.monitor, digits.optimized_metric) == (
        "multiclass",
        "val/acc",
        "val/acc_best",
    )
    voc = make_cfg(tmp_path, "data=voc2012")
    assert (voc.task.task, voc.monitor, voc.optimized_metric) == (
        "multilabel",
        "val/mAP",
        "val/mAP_best",
    )
    assert voc.callbacks.model_checkpoint.monitor == "val/mAP"


def unwrapped(target: Any, **kwargs: Any) -> Any:
    """hydra's instantiate, raising our ConfigError rather than Hydra's wrapper of it."""
    try:
        return instantiate(target, **kwargs)
    except Exception as err:
        raise (user_error(err) or err) from None


def test_bad_task_settings_are_named(tmp_path: Path) -> None:
    def build(*overrides: str) -> None:
        cfg = make_cfg(tmp_path, *overrides)
        unwrapped(cfg.task, net=torch.nn.Linear(1, 1), optimizer=optimizer_spec(cfg.optimizer))

    with pytest.raises(
        ConfigError, match=r"^task.task=ranking: must be one of multiclass, multilabel$"
    ):
        build("task.task=ranking")
    with pytest.raises(ConfigError, match=r"^task.pos_weight=inverse: must be 'none' or 'auto'$"):
        build("data=voc2012", "task.pos_weight=inverse")
    with pytest.raises(ConfigError, match=r"^task.pos_weight=auto: only for task.task=multilabel$"):
        build("task.pos_weight=auto")
    with pytest.raises(
        ConfigError, match=r"^data.task=regression: must be 'multiclass' or 'multilabel'$"
    ):
        unwrapped(make_cfg(tmp_path, "data.task=regression").data)
    with pytest.raises(
        ConfigError, match=r"^data.task=multiclass: VOC2012 labels are multi-hot \(multilabel\)$"
    ):
        unwrapped(make_cfg(tmp_path, "data=voc2012", "data.task=multiclass").data)


def test_multilabel_on_class_index_data_is_one_line(tmp_path: Path) -> None:
    proc = cli("task.task=multilabel", *FEW, f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: task.task=multilabel: the data gives labels of shape (64,), "
        "not multi-hot (batch, 10)"
    )


def test_a_corrupt_jpeg_is_named_or_skipped_and_counted(tmp_path: Path) -> None:
    data = tmp_path / "data"
    flags = make_voc(data, n=18, positive=0.4)
    bad = voc_dir(data) / "JPEGImages" / f"{sorted(flags)[3]}.jpg"  # a train image
    bad.write_bytes(b"\xff\xd8 not really a JPEG")
    run = ["experiment=voc2012_resnet18", f"data.root={data}", "model.pretrained=null", *SMALL]
    run += [*FEW, "trainer.enable_progress_bar=false"]
    # data.num_workers=2 (the preset's): the error crosses a DataLoader worker process
    proc = cli(*run, f"hydra.run.dir={tmp_path / 'error'}", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"error: {bad}: unreadable image (UnidentifiedImageError)"
    )
    proc = cli(*run, "data.on_corrupt=skip", f"hydra.run.dir={tmp_path / 'skip'}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((tmp_path / "skip" / "metrics.json").read_text())
    assert metrics["data/skipped"] == {"train": 1, "val": 0, "test": 0}
    assert "train: skipped 1 unreadable images" in (tmp_path / "skip" / "run.log").read_text()


@pytest.mark.slow
def test_predictions_under_ddp_cover_the_test_set_once(
    voc: tuple[Path, dict[str, np.ndarray], Path], tmp_path: Path
) -> None:
    """Two CPU ranks each test half of val (DistributedSampler pads the odd one out)."""
    flags = make_voc(tmp_path / "data", n=37, positive=0.4)  # 13 val images: one padded
    run_dir = tmp_path / "run"
    overrides = preset(voc, "trainer=ddp_cpu", "trainer.max_epochs=1", "data.num_workers=0")
    overrides += [f"data.root={tmp_path / 'data'}"]
    proc = cli(
        *overrides, "trainer.enable_progress_bar=false", f"hydra.run.dir={run_dir}", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rankings = read_rankings(run_dir / "predictions")
    val_ids = sorted(flags)[24:]
    assert len(val_ids) == 13
    for c, name in enumerate(VOC_CLASSES):
        assert sorted(r[0] for r in rankings[name]) == val_ids  # each once: padding dropped
        assert all(r[2] == int(flags[r[0]][c] == 1) for r in rankings[name])
    labels = np.array([[r[2] for r in sorted(rankings[n])] for n in VOC_CLASSES]).T
    scores = np.array([[r[1] for r in sorted(rankings[n])] for n in VOC_CLASSES]).T
    ap = [average_precision_score(labels[:, c], scores[:, c]) for c in range(20)]
    assert metrics["test/mAP"] == pytest.approx(np.mean(ap), abs=1e-5)
