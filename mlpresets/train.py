"""run(cfg): seed, instantiate data/model/task/callbacks/loggers/trainer, fit, test, report.

Heavy imports live inside run() so that `run.py --help` and `--cfg job` never load torch.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path
from typing import Any, cast

from omegaconf import DictConfig, OmegaConf

from mlpresets.errors import ConfigError

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> float | list[float] | None:
    """Train and/or test as configured; write metrics.json; return cfg.optimized_metric."""
    from mlpresets.trainer import relaunch_as_this_job

    with relaunch_as_this_job():
        return _run(cfg)


def _run(cfg: DictConfig) -> float | list[float] | None:
    import pytorch_lightning as pl
    from hydra.utils import instantiate

    from mlpresets.callbacks.preemption import GracefulStop, graceful_signals
    from mlpresets.optim import optimizer_spec, scheduler_spec
    from mlpresets.sweep.trial import pruning_callback
    from mlpresets.trainer import build_trainer

    out = Path(cfg.paths.output_dir)
    ckpt_path = _checkpoint_to_load(cfg)
    if not cfg.train and ckpt_path is None:
        raise ConfigError("train=false: needs ckpt_path=PATH (the checkpoint to test)")

    pl.seed_everything(cfg.seed, workers=True)
    log.info("instantiating data <%s>", cfg.data._target_)
    datamodule: pl.LightningDataModule = instantiate(cfg.data)
    log.info("instantiating model <%s>", cfg.model._target_)
    net = instantiate(cfg.model)
    log.info("instantiating task <%s>", cfg.task._target_)
    task: pl.LightningModule = instantiate(
        cfg.task,
        net=net,
        optimizer=optimizer_spec(cfg.optimizer),
        scheduler=scheduler_spec(cfg.get("scheduler")),
    )
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    pruning = pruning_callback(cfg)
    if pruning is not None:
        callbacks.append(pruning)
    loggers = [
        instantiate(c, **_resume_options(c, ckpt_path if cfg.get("resume") else None))
        for c in (cfg.get("logger") or {}).values()
        if c is not None
    ]
    log.info("callbacks: %s", ", ".join(type(c).__name__ for c in callbacks) or "none")
    log.info("loggers: %s", ", ".join(type(c).__name__ for c in loggers) or "none")
    trainer = build_trainer(cfg.trainer, callbacks, loggers)
    log.info(
        "trainer: %s x %d, strategy %s",
        type(trainer.accelerator).__name__,
        trainer.world_size,
        type(trainer.strategy).__name__,
    )

    metrics: dict[str, Any] = {}
    if cfg.train:
        start = time.perf_counter()
        stop = next((c for c in callbacks if isinstance(c, GracefulStop)), None)
        with graceful_signals(stop.request) if stop else contextlib.nullcontext():
            trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path)
        elapsed = time.perf_counter() - start
        metrics.update(_scalars(trainer.callback_metrics))
        samples = getattr(task, "train_samples", 0) * trainer.world_size
        metrics.update(
            train_time_s=round(elapsed, 3),
            train_samples_per_s=round(samples / elapsed, 2) if elapsed > 0 else None,
            epochs=trainer.current_epoch,
        )
    ckpt_cb = trainer.checkpoint_callback
    best = getattr(ckpt_cb, "best_model_path", "") if cfg.train else ""
    if best:
        metrics["best_ckpt"] = _relative(best, out)
    if getattr(ckpt_cb, "last_model_path", ""):
        metrics["last_ckpt"] = _relative(ckpt_cb.last_model_path, out)  # type: ignore[union-attr]

    pruned_at = pruning.pruned_at if pruning is not None else None
    if pruned_at is not None:
        metrics["pruned_at_epoch"] = pruned_at
    if cfg.test and pruned_at is None:
        tested = best or (None if cfg.train else ckpt_path)
        trainer.test(task, datamodule=datamodule, ckpt_path=tested, weights_only=True)
        metrics.update(_scalars(trainer.callback_metrics))
        metrics["tested_ckpt"] = _relative(tested, out) if tested else "final weights"
        for name in ("test_per_class", "test_confusion"):
            if getattr(task, name, None) is not None:
                metrics[f"test/{name.removeprefix('test_')}"] = getattr(task, name)
        if getattr(task, "multilabel", False) and trainer.is_global_zero:
            from mlpresets.tasks import multilabel

            metrics.update(
                multilabel.report(
                    out,
                    task.test_scores,  # type: ignore[arg-type]
                    task.test_targets,  # type: ignore[arg-type]
                    datamodule.class_names,  # type: ignore[attr-defined]
                    datamodule.sample_ids("test"),  # type: ignore[attr-defined]
                    loggers,
                )
            )

    skipped = getattr(datamodule, "skipped", None)
    if skipped:
        metrics["data/skipped"] = dict(skipped)  # unreadable images left out, per split
    for callback in callbacks:
        # a callback's own figures (diagnostics: parameter count, FLOPs per image)
        report = getattr(callback, "report", None)
        if callable(report):
            metrics.update(report())

    log.info("rank %d metrics: %s", trainer.global_rank, json.dumps(_headline(metrics)))
    if trainer.is_global_zero:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
        _log_hparams(loggers, cfg, metrics)
        log.info("wrote %s", out / "metrics.json")

    if pruned_at is not None and trainer.is_global_zero:
        import optuna

        raise optuna.TrialPruned(f"pruned after epoch {pruned_at}")
    return _objective(cfg, metrics)


def _objective(cfg: DictConfig, metrics: dict[str, Any]) -> float | list[float] | None:
    """cfg.optimized_metric's value (a list of values for a list of metrics)."""
    names = cfg.optimized_metric
    many = not isinstance(names, str)
    values = []
    for name in [names] if not many else list(names):
        value = metrics.get(name)
        if value is None and cfg.train:
            raise ConfigError(
                f"optimized_metric={name}: not among the metrics "
                f"({', '.join(sorted(k for k in metrics if isinstance(metrics[k], float)))})"
            )
        values.append(None if value is None else float(value))
    if not many:
        return values[0]
    return None if None in values else cast(list[float], values)


def _checkpoint_to_load(cfg: DictConfig) -> str | None:
    if cfg.get("resume"):
        return str(Path(cfg.resume) / "checkpoints" / "last.ckpt")
    if cfg.get("ckpt_path"):
        path = Path(cfg.ckpt_path)
        if not path.is_file():
            raise ConfigError(f"ckpt_path={cfg.ckpt_path}: file not found")
        return str(path)
    return None


def _resume_options(logger_cfg: DictConfig, last_ckpt: str | None) -> dict[str, Any]:
    """resume=: TensorBoard drops the events logged after the checkpoint (a killed run's
    last steps), so the continued log has each step once."""
    if last_ckpt is None or not str(logger_cfg.get("_target_", "")).endswith("TensorBoardLogger"):
        return {}
    from mlpresets.checkpoint import safe_load

    step = safe_load(last_ckpt, "resume").get("global_step", 0)
    return {"purge_step": int(step)}


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v.item() if hasattr(v, "item") else v) for k, v in metrics.items()}


def _relative(path: str, root: Path) -> str:
    p = Path(path).resolve()
    try:
        return str(p.relative_to(root.resolve()))
    except ValueError:
        return str(p)


def _headline(metrics: dict[str, Any]) -> dict[str, Any]:
    keys = (
        *("val/acc", "val/acc_best", "test/acc", "val/mAP", "val/mAP_best", "test/mAP"),
        *("train_time_s", "epochs", "pruned_at_epoch"),
    )
    return {k: metrics[k] for k in keys if k in metrics}


def _log_hparams(loggers: list[Any], cfg: DictConfig, metrics: dict[str, Any]) -> None:
    """The flattened config and the final scalars, for TensorBoard's HPARAMS tab."""
    from pytorch_lightning.loggers import TensorBoardLogger

    flat = _flatten(cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True)))
    final = {f"hparams/{k}": v for k, v in metrics.items() if isinstance(v, float)}
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_hyperparams(flat, metrics=final)
            logger.finalize("success")


def _flatten(node: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in node.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, f"{key}/"))
        elif isinstance(v, (int, float, str, bool)) or v is None:
            out[key] = "null" if v is None else v
        else:
            out[key] = str(v)
    return out
