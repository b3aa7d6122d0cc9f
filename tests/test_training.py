"""Real training on real data: what a run writes, and that it is reproducible and resumable."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
import torchvision
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mlpresets.errors import ConfigError
from tests.conftest import FEW, make_cfg, train


def read_csv_metric(run_dir: Path, name: str) -> list[float]:
    with open(run_dir / "csv" / "metrics.csv") as f:
        return [float(row[name]) for row in csv.DictReader(f) if row.get(name)]


@pytest.mark.slow
def test_default_run_learns_and_writes_everything(tmp_path: Path) -> None:
    # Three epochs of the default recipe on the real digits: well above chance (0.1). (After
    # two, OneCycle's peak-LR phase leaves 0.43 to 0.91 depending on the shuffle order.)
    metrics = train(tmp_path, "trainer.max_epochs=3", "logger=many")
    assert metrics["test/acc"] > 0.8, metrics
    for key in (
        "val/acc",
        "val/acc_best",
        "test/acc",
        "test/acc_top5",
        "test/f1_macro",
        "train_time_s",
        "train_samples_per_s",
        "epochs",
        "best_ckpt",
        "last_ckpt",
    ):
        assert key in metrics, key
    assert metrics["epochs"] == 3
    assert metrics["best_ckpt"].startswith("checkpoints/epoch")
    assert (tmp_path / metrics["best_ckpt"]).is_file() and (
        tmp_path / "checkpoints/last.ckpt"
    ).is_file()
    confusion = torch.tensor(metrics["test/confusion"])
    assert confusion.shape == (10, 10) and int(confusion.sum()) == 270  # the 15% test split
    assert math.isclose(confusion.diag().sum().item() / 270, metrics["test/acc"], abs_tol=1e-6)
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss_epoch", "train/acc", "val/loss", "val/acc", "test/acc", "lr"} <= scalars
    # 20 steps per epoch; Lightning logs epoch-end validation at global_step - 1; no duplicates.
    assert [e.step for e in events.Scalars("val/acc")] == [19, 39, 59]
    plugins = {tag for tag in events.summary_metadata if tag.startswith("_hparams_")}
    assert "_hparams_/experiment" in plugins and "_hparams_/session_start_info" in plugins
    assert read_csv_metric(tmp_path, "val/acc")
    # Our own checkpoints load without ever unpickling code.
    ckpt = torch.load(tmp_path / "checkpoints/last.ckpt", weights_only=True)
    assert ckpt["hyper_parameters"] == {
        "num_classes": 10,
        "task": "multiclass",
        "label_smoothing": 0.0,
        "head_lr_mult": 1.0,
        "channels_last": False,
        "pos_weight": "none",
    }


@pytest.mark.slow
def test_same_seed_same_metrics_and_resume_equals_uninterrupted(tmp_path: Path) -> None:
    common = [
        "scheduler=step",
        "scheduler.step_size=1",
        "scheduler.gamma=0.5",
        "trainer.deterministic=true",
        "trainer.limit_train_batches=6",
        "trainer.limit_val_batches=2",
    ]
    full_a = train(tmp_path / "a", *common, "trainer.max_epochs=2")
    full_b = train(tmp_path / "b", *common, "trainer.max_epochs=2")
    half = tmp_path / "c"
    train(half, *common, "trainer.max_epochs=1")
    # Explicit checkpoint into a new run dir (before resume= appends to `half`).
    from_ckpt = train(
        tmp_path / "d", *common, "trainer.max_epochs=2", f"ckpt_path={half}/checkpoints/last.ckpt"
    )
    resumed = train(half, *common, "trainer.max_epochs=2", f"resume={half}")
    keys = ("val/acc", "val/loss", "train/loss_epoch", "test/acc", "test/loss")
    for key in keys:
        assert full_a[key] == full_b[key], key  # same seed, same numbers
        assert resumed[key] == pytest.approx(full_a[key], abs=1e-6), key
        assert from_ckpt[key] == pytest.approx(full_a[key], abs=1e-6), key
    assert resumed["epochs"] == from_ckpt["epochs"] == 2


def test_test_only_reproduces_the_test_accuracy(tmp_path: Path) -> None:
    trained = train(tmp_path / "fit", *FEW)
    ckpt = tmp_path / "fit" / trained["best_ckpt"]
    tested = train(tmp_path / "test", *FEW, "train=false", f"ckpt_path={ckpt}")
    assert tested["test/acc"] == trained["test/acc"]
    assert tested["test/loss"] == pytest.approx(trained["test/loss"], rel=1e-6)
    assert "train_time_s" not in tested


def test_test_only_needs_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"^train=false: needs ckpt_path=PATH \(the checkpoint to test\)$"
    ):
        train(tmp_path, "train=false")


@pytest.mark.parametrize(
    ("scheduler", "extra", "expect"),
    [
        ("step", ["scheduler.step_size=1", "scheduler.gamma=0.1"], [0.1, 0.01, 0.001]),
        # val/loss can't go below 0 nor improve by >1e9: 'min' mode with a huge threshold
        # counts every epoch as a non-improvement, so patience 0 drops the LR each epoch.
        (
            "plateau",
            [
                "monitor=val/loss",
                "monitor_mode=min",
                "scheduler.patience=0",
                "+scheduler.threshold=1.0e9",
                "scheduler.factor=0.5",
            ],
            [0.1, 0.05, 0.025],
        ),
    ],
)
def test_epoch_schedulers_change_the_logged_lr(
    tmp_path: Path, scheduler: str, extra: list[str], expect: list[float]
) -> None:
    train(
        tmp_path,
        f"scheduler={scheduler}",
        *extra,
        "logger=csv",
        "trainer.max_epochs=3",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "trainer.log_every_n_steps=1",
        "test=false",
    )
    lrs = read_csv_metric(tmp_path, "lr")
    per_epoch = sorted(set(lrs), reverse=True)
    assert per_epoch == pytest.approx(expect), lrs


def test_pretrained_weights_load_with_a_new_head(tmp_path: Path) -> None:
    source = torchvision.models.resnet18(num_classes=1000)
    path = tmp_path / "resnet18_imagenet.pth"
    torch.save(source.state_dict(), path)
    from mlpresets.models.resnet import build_torchvision_resnet

    net = build_torchvision_resnet(
        "resnet18", num_classes=10, in_channels=3, image_size=224, pretrained=str(path)
    )
    theirs, ours = source.state_dict(), net.state_dict()
    for key in theirs:
        if key.startswith("fc."):
            continue
        assert torch.equal(theirs[key], ours[key]), key
    assert ours["fc.weight"].shape == (10, 512)  # replaced head, freshly initialised

    gray = build_torchvision_resnet(
        "resnet18", num_classes=10, in_channels=1, image_size=224, pretrained=str(path)
    )
    assert torch.allclose(
        gray.state_dict()["conv1.weight"], theirs["conv1.weight"].sum(1, keepdim=True)
    )


def test_pretrained_mismatch_lists_the_keys(tmp_path: Path) -> None:
    path = tmp_path / "resnet34.pth"
    torch.save(torchvision.models.resnet34().state_dict(), path)
    from mlpresets.models.resnet import build_torchvision_resnet

    with pytest.raises(
        ConfigError,
        match=rf"^model.pretrained={path}: does not fit the model \(unexpected keys: layer1.2.conv1.weight, ",
    ):
        build_torchvision_resnet("resnet18", num_classes=10, image_size=224, pretrained=str(path))


def test_freeze_backbone_trains_only_the_head(tmp_path: Path) -> None:
    train(tmp_path, *FEW, "model.freeze=backbone")
    from mlpresets.models.resnet import build_torchvision_resnet

    torch.manual_seed(42)  # the run's seed: the same initial weights
    init = build_torchvision_resnet(
        "resnet18", num_classes=10, in_channels=1, image_size=16
    ).state_dict()
    state = torch.load(tmp_path / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    assert torch.equal(state["net.conv1.weight"], init["conv1.weight"])
    assert torch.equal(state["net.layer4.1.conv2.weight"], init["layer4.1.conv2.weight"])
    assert not torch.equal(state["net.fc.weight"], init["fc.weight"])


def test_head_lr_mult_and_no_decay_groups(tmp_path: Path) -> None:
    from hydra.utils import instantiate

    from mlpresets.optim import optimizer_spec, param_groups

    cfg = make_cfg(tmp_path, "model.head_lr_mult=10")
    net = instantiate(cfg.model)
    spec = optimizer_spec(cfg.optimizer)
    groups = {
        g["name"]: g for g in param_groups(net, net.fc, 0.1, 5e-4, spec.decay_norm_and_bias, 10.0)
    }
    assert set(groups) == {"body", "body/no_decay", "head", "head/no_decay"}
    assert groups["head"]["lr"] == pytest.approx(1.0) and groups["body"]["lr"] == 0.1
    assert groups["body/no_decay"]["weight_decay"] == 0.0 and groups["body"]["weight_decay"] == 5e-4
    assert all(p.ndim == 1 for p in groups["body/no_decay"]["params"])


def test_non_finite_loss_stops_naming_the_step_and_keeps_the_checkpoint(tmp_path: Path) -> None:
    from mlpresets.callbacks.non_finite import NonFiniteLossError

    # Epoch 0 trains normally and saves; then StepLR multiplies the LR by 1e30.
    overrides = [
        "scheduler=step",
        "scheduler.step_size=1",
        "scheduler.gamma=1.0e30",
        "trainer.max_epochs=3",
        "trainer.limit_train_batches=4",
        "trainer.limit_val_batches=2",
    ]
    with pytest.raises(
        NonFiniteLossError,
        match=r"^non-finite training loss \((nan|inf)\) at step (4|5|6|7) \(epoch 1\); last good checkpoint kept: .*last.ckpt$",
    ):
        train(tmp_path, *overrides)
    last = torch.load(tmp_path / "checkpoints/last.ckpt", weights_only=True)
    assert last["epoch"] == 0 and last["global_step"] == 4
    assert all(
        torch.isfinite(v).all() for v in last["state_dict"].values() if v.is_floating_point()
    )


def test_a_schedule_too_short_for_onecycle_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"^scheduler: OneCycleLR cannot schedule 4 total steps; train for more steps or change its phase lengths$",
    ):
        train(tmp_path, "debug=limit", "trainer.limit_train_batches=4")


def test_warmup_cosine_shape() -> None:
    from mlpresets.optim import warmup_cosine

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = warmup_cosine(
        opt, total_steps=30, steps_per_epoch=10, warmup_epochs=1, warmup_start_factor=0.1
    )
    lrs = []
    for _ in range(30):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] == pytest.approx(0.1) and lrs[5] == pytest.approx(0.55)  # linear warmup
    assert lrs[10] == pytest.approx(1.0)  # peak after one epoch
    assert lrs[20] == pytest.approx(0.5)  # half-way down the cosine
    assert lrs[29] == pytest.approx(0.5 * (1 + math.cos(math.pi * 19 / 20)))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))
