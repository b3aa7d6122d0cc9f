"""The Optuna study behind a sweep: storage, naming, trial accounting, heartbeats and results.

n_trials is the study's total. A trial failed as stale (its process died) and retried counts
once: the retry replaces it. Workers sharing a storage can each ask for the last missing trial
at the same moment, so a study may end with up to (workers - 1) trials more than n_trials.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import threading
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import RDBStorage
from optuna.trial import FrozenTrial, TrialState
from sqlalchemy.exc import IntegrityError

from mlpresets.errors import ConfigError

log = logging.getLogger(__name__)

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
CREATE_ATTEMPTS = 5


def default_study_name(label: str, key: Any) -> str:
    """`<label>-<8 hex>`: the same search (space, fixed overrides, directions) gets the same
    name, so running the same command again resumes its study; n_trials is not part of it."""
    digest = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()
    return f"{label}-{digest[:8]}"


def default_storage(log_dir: str | Path, study_name: str) -> str:
    folder = Path(log_dir).resolve() / "optuna"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / study_name}.db"


def hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: nothing to hide
        return url


def open_storage(
    url: str, heartbeat_interval: int | None, grace_period: int | None, retries: int
) -> RDBStorage:
    """An RDBStorage with heartbeats whose stale trials are failed and retried `retries` times.

    Any failure to reach the database becomes one line naming `hydra.sweeper.storage`."""
    with warnings.catch_warnings():
        # heartbeats and their retry callback are "experimental" in Optuna since 2.8
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        callback = None
        if heartbeat_interval and retries > 0:
            retry_cls = getattr(
                optuna.storages,
                "RetryHeartbeatStaleTrialCallback",
                optuna.storages.RetryFailedTrialCallback,
            )
            callback = retry_cls(max_retry=retries)
        engine_kwargs: dict[str, Any] = {}
        if url.startswith("sqlite"):
            engine_kwargs["connect_args"] = {"timeout": 60}  # parallel trials write values
        else:
            engine_kwargs["pool_pre_ping"] = True
        for attempt in range(CREATE_ATTEMPTS):
            try:
                return RDBStorage(
                    url,
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=heartbeat_interval or None,
                    grace_period=grace_period,
                    heartbeat_stale_trial_callback=callback,
                )
            except IntegrityError:
                # Workers starting together on an empty database race to create Optuna's
                # tables; PostgreSQL lets one win and the others see a duplicate type.
                if attempt == CREATE_ATTEMPTS - 1:
                    raise
                time.sleep(0.5 + random.random())
            except Exception as err:
                raise ConfigError(
                    f"hydra.sweeper.storage: cannot open '{hide_password(url)}': {_reason(err)}"
                ) from None
    raise AssertionError("unreachable")


def _reason(err: BaseException) -> str:
    orig = getattr(err, "orig", None) or err  # SQLAlchemy wraps the driver's error
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    text = (lines[0] if lines else type(orig).__name__).removeprefix("connection failed: ")
    if isinstance(orig, ModuleNotFoundError):
        text += " (for PostgreSQL use postgresql+psycopg://, psycopg 3 is installed)"
    return text


def fail_stale(study: optuna.Study) -> None:
    """Fail trials whose process stopped beating (their retries are then WAITING)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def superseded(trials: Iterable[FrozenTrial]) -> set[int]:
    """Numbers of the trials that a retry replaced."""
    return {
        t.system_attrs["retry_history"][-1] for t in trials if t.system_attrs.get("retry_history")
    }


def counted(study: optuna.Study) -> list[FrozenTrial]:
    """The study's trials that count toward n_trials (each retried trial counted once)."""
    trials = study.get_trials(deepcopy=False)
    replaced = superseded(trials)
    return [t for t in trials if t.number not in replaced]


class Heartbeat:
    """Records a heartbeat for every trial this process is running, from a daemon thread.

    The trials run inside the launcher (this process, joblib workers or a cluster), so this
    sweeper process beats for them; if it dies, its trials go stale and another worker (or the
    same command run again) fails and retries them."""

    def __init__(self, storage: RDBStorage) -> None:
        self.storage = storage
        self.interval = storage.get_heartbeat_interval()
        self.trial_ids: set[int] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def add(self, trial_id: int) -> None:
        if self.interval is None:
            return
        with self._lock:
            self.trial_ids.add(trial_id)
        self.storage.record_heartbeat(trial_id)
        if self._thread is None:
            self._thread = threading.Thread(target=self._beat, name="optuna-heartbeat", daemon=True)
            self._thread.start()

    def discard(self, trial_id: int) -> None:
        with self._lock:
            self.trial_ids.discard(trial_id)

    def _beat(self) -> None:
        assert self.interval is not None
        while not self._stop.wait(self.interval):
            with self._lock:
                ids = list(self.trial_ids)
            for trial_id in ids:
                try:
                    self.storage.record_heartbeat(trial_id)
                except Exception as err:  # a blip in the database must not kill the sweep
                    log.warning("heartbeat for trial id %d failed: %s", trial_id, err)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def duration_s(trial: FrozenTrial) -> float | None:
    if trial.datetime_start and trial.datetime_complete:
        return round((trial.datetime_complete - trial.datetime_start).total_seconds(), 1)
    return None


def trial_line(trial: FrozenTrial) -> str:
    """One line per finished trial: number, state, value(s), duration, params, reason."""
    if trial.values is not None:
        value = ", ".join(f"{v:.6g}" for v in trial.values)
    elif trial.state == TrialState.PRUNED and trial.intermediate_values:
        step = max(trial.intermediate_values)
        value = f"{trial.intermediate_values[step]:.6g} at epoch {step}"
    else:
        value = "-"
    params = _params(trial)
    secs = duration_s(trial)
    line = f"trial {trial.number} {trial.state.name} value={value}"
    line += f" in {secs:.1f}s" if secs is not None else ""
    line += f" | {params}" if params else ""
    reason = trial.user_attrs.get("fail_reason")
    return line + (f" | {reason}" if reason else "")


def _params(trial: FrozenTrial) -> str:
    return " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items()
    )


def table(trials: Sequence[FrozenTrial]) -> str:
    """The final table: number, state, value, duration, params."""
    rows = [("#", "state", "value", "seconds", "params")]
    for t in trials:
        value = ", ".join(f"{v:.6g}" for v in t.values) if t.values else "-"
        secs = duration_s(t)
        params = _params(t)
        rows.append(
            (str(t.number), t.state.name, value, "-" if secs is None else f"{secs:.1f}", params)
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
        for r in rows
    )


def results(study: optuna.Study, storage_url: str, n_trials: int) -> dict[str, Any]:
    """What optimization_results.yaml holds."""
    trials = counted(study)
    counts = Counter(t.state.name for t in trials)
    out: dict[str, Any] = {
        "name": "optuna",
        "study_name": study.study_name,
        "storage": hide_password(storage_url),
        "directions": [d.name.lower() for d in study.directions],
        "n_trials": n_trials,
        "counts": {s.name: counts.get(s.name, 0) for s in (*FINISHED, TrialState.RUNNING)},
    }
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        return out
    if len(study.directions) == 1:
        best = study.best_trial
        out.update(
            best_params=dict(best.params), best_value=_plain(best.value), best_trial=best.number
        )
    else:
        out["best_trials"] = [
            {"number": t.number, "params": dict(t.params), "values": [_plain(v) for v in t.values]}
            for t in study.best_trials
        ]
    return out


def _plain(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)
