"""Our run vs the same model, data, optimizer and schedule in a plain PyTorch loop.

Prints per-epoch seconds for both, their ratio, and the final train-loss difference
(same seed: the two should agree to ~1e-4). Target: overhead <= max(0.3 s/epoch, 5%).

    .venv/bin/python benchmarks/overhead.py [--epochs 3] [overrides ...]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def compose_cfg(overrides: list[str], out: str):  # type: ignore[no-untyped-def]
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        return compose(
            "config",
            overrides=[
                f"paths.output_dir={out}",
                "callbacks.progress_bar=null",
                "callbacks.model_summary=null",
                *overrides,
            ],
        )


def plain_loop(cfg) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """The loop a course teaches, on the objects our config builds. Returns (s/epoch, last loss)."""
    import pytorch_lightning as pl
    import torch
    import torch.nn.functional as F
    from hydra.utils import instantiate

    from mlpresets.optim import fill_auto, optimizer_spec, param_groups, scheduler_spec

    pl.seed_everything(cfg.seed, workers=True)
    dm = instantiate(cfg.data)
    dm.setup("fit")
    net = instantiate(cfg.model)
    opt_spec = optimizer_spec(cfg.optimizer)
    kw = opt_spec.factory.keywords
    groups = param_groups(
        net, net.fc, kw["lr"], kw["weight_decay"], opt_spec.decay_norm_and_bias, 1.0
    )
    optimizer = opt_spec.factory(groups)
    train, val = dm.train_dataloader(), dm.val_dataloader()
    epochs = cfg.trainer.max_epochs
    sched_spec = scheduler_spec(cfg.scheduler)
    assert sched_spec is not None and sched_spec.interval == "step"
    sched = fill_auto(sched_spec.factory, total_steps=epochs * len(train))(optimizer)
    start = time.perf_counter()
    for _ in range(epochs):
        net.train()
        total, count = 0.0, 0
        for x, y in train:
            loss = F.cross_entropy(net(x), y)  # (B, 10) logits vs (B,)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            sched.step()
            total += loss.item() * len(y)
            count += len(y)
        net.eval()
        with torch.no_grad():
            correct = sum(int((net(x).argmax(1) == y).sum()) for x, y in val)
    elapsed = time.perf_counter() - start
    del correct
    return elapsed / epochs, total / count


def ours(cfg) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    from mlpresets.train import run

    run(cfg)
    metrics = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    return metrics["train_time_s"] / metrics["epochs"], metrics["train/loss_epoch"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    args, overrides = parser.parse_known_args()
    overrides = [f"trainer.max_epochs={args.epochs}", "test=false", *overrides]
    with tempfile.TemporaryDirectory() as tmp:
        plain_s, plain_loss = plain_loop(compose_cfg(overrides, tmp))
        ours_s, ours_loss = ours(compose_cfg(overrides, tmp))
    overhead = ours_s - plain_s
    print(f"plain PyTorch : {plain_s:.3f} s/epoch, final train loss {plain_loss:.6f}")
    print(f"mlpresets     : {ours_s:.3f} s/epoch, final train loss {ours_loss:.6f}")
    print(f"overhead      : {overhead:+.3f} s/epoch, ratio {ours_s / plain_s:.3f}")
    print(f"loss diff     : {abs(ours_loss - plain_loss):.2e}")
    ok = overhead <= max(0.3, 0.05 * plain_s) and abs(ours_loss - plain_loss) <= 1e-4
    print("target (<= max(0.3 s, 5%) and |dloss| <= 1e-4):", "met" if ok else "NOT met")


if __name__ == "__main__":
    main()
