"""The sweep loop behind `hydra/sweeper=optuna`: ask, launch through Hydra's launcher, tell.

- A trial that raises, returns NaN/inf or cannot even be composed is told FAIL with its reason
  (stored as the trial's `fail_reason` user attribute); the sweep goes on until more than
  `max_failure_rate` of the finished trials failed (checked once 3 have finished).
- A trial whose pruning callback stopped it raises optuna.TrialPruned and is told PRUNED.
- Trial k gets `seed=<config seed + k>` unless the search space sets `seed` itself.
- Each trial learns its study through the `optuna.*` overrides, for pruning and TensorBoard.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import optuna
import yaml
from hydra.core.utils import JobReturn, JobStatus
from hydra.errors import InstantiationException
from hydra.plugins.launcher import Launcher
from hydra.utils import get_method, instantiate
from omegaconf import DictConfig, ListConfig, OmegaConf
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import Trial, TrialState

from mlpresets.errors import ConfigError
from mlpresets.sweep import space as sp
from mlpresets.sweep import study as st

log = logging.getLogger(__name__)

MIN_TRIALS_FOR_FAILURE_RATE = 3
RESULTS_FILE = "optimization_results.yaml"


def directions(direction: Any, monitor_mode: str | None) -> list[str]:
    if direction is None:
        return ["maximize" if monitor_mode == "max" else "minimize"]
    items = list(direction) if isinstance(direction, (list, tuple, ListConfig)) else [direction]
    names = [getattr(d, "name", str(d)).lower() for d in items]
    for name in names:
        if name not in ("minimize", "maximize"):
            raise ConfigError(f"hydra.sweeper.direction: '{name}' is not minimize or maximize")
    return names


def suggest(trial: Trial, name: str, dist: BaseDistribution) -> Any:
    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    if isinstance(dist, FloatDistribution):
        return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)
    raise TypeError(f"{name}: unsupported distribution {dist!r}")


class OptunaSweep:
    def __init__(
        self,
        settings: DictConfig,
        config: DictConfig,
        launcher: Launcher,
        arguments: Sequence[str],
        extra_overrides: Sequence[str] = (),
        label: str = "params",
    ) -> None:
        self.s = settings
        self.config = config
        self.launcher = launcher
        self.extra = list(extra_overrides)
        if not 0.0 <= settings.max_failure_rate <= 1.0:
            raise ConfigError(
                f"hydra.sweeper.max_failure_rate={settings.max_failure_rate}: not within [0, 1]"
            )
        params = settings.params
        if params is None and settings.get("search_space"):
            log.warning("hydra.sweeper.search_space is deprecated: use hydra.sweeper.params")
            params = sp.from_search_space(OmegaConf.to_container(settings.search_space))  # type: ignore[arg-type]
        self.space = sp.parse_space(params, arguments)
        self.custom: Callable[[DictConfig, Trial], Any] | None = None
        if settings.custom_search_space:
            try:
                self.custom = get_method(settings.custom_search_space)
            except Exception as err:  # Hydra's message spans three lines: keep the cause
                cause = err.__cause__ or err
                raise ConfigError(
                    f"hydra.sweeper.custom_search_space={settings.custom_search_space}: "
                    f"cannot import it ({type(cause).__name__}: {cause})"
                ) from None
        self.directions = directions(settings.direction, config.get("monitor_mode"))
        self.sampler = self._sampler()
        self.pruner = _build("pruner", settings.pruner) if settings.pruner else None
        self.n_trials = int(settings.n_trials)
        key = {
            "space": {k: repr(v) for k, v in self.space.distributions.items()},
            "fixed": self.space.fixed,
            "custom": settings.custom_search_space,
            "extra": self.extra,
            "directions": self.directions,
        }
        self.study_name = settings.study_name or st.default_study_name(label, key)
        self.storage_url = str(
            settings.storage or st.default_storage(config.paths.log_dir, self.study_name)
        )
        self.job_idx = 0

    def _sampler(self) -> optuna.samplers.BaseSampler:
        sampler = _build("sampler", self.s.sampler)
        if isinstance(sampler, optuna.samplers.BaseSampler):
            return sampler
        # a partial: the grid sampler, whose grid is the search space
        grid = {n: sp.grid_choices(n, d) for n, d in self.space.distributions.items()}
        size = math.prod(len(v) for v in grid.values())
        if size < self.s.n_trials:
            log.info("the grid has %d points: n_trials %d -> %d", size, self.s.n_trials, size)
            self.s.n_trials = size
        made: optuna.samplers.BaseSampler = sampler(search_space=grid)
        return made

    # -- the loop --------------------------------------------------------------------------

    def run(self, sweep_dir: Path) -> dict[str, Any]:
        storage = st.open_storage(
            self.storage_url, self.s.heartbeat_interval, self.s.grace_period, self.s.retries
        )
        try:
            study = optuna.create_study(
                study_name=self.study_name,
                storage=storage,
                sampler=self.sampler,
                pruner=self.pruner,
                directions=self.directions,  # type: ignore[arg-type]
                load_if_exists=True,
            )
        except ValueError as err:
            raise ConfigError(f"hydra.sweeper.study_name={self.study_name}: {err}") from None
        stored = [d.name.lower() for d in study.directions]
        if stored != self.directions:  # load_if_exists keeps the stored ones without a word
            raise ConfigError(
                f"hydra.sweeper.study_name={self.study_name}: the stored study's directions are "
                f"{stored}, this sweep's {self.directions} (pick another study_name)"
            )
        done_before = len([t for t in st.counted(study) if t.state in st.FINISHED])
        log.info(
            "study %s in %s: %d/%d trials done, directions %s, sampler %s, pruner %s",
            self.study_name,
            st.hide_password(self.storage_url),
            done_before,
            self.n_trials,
            ",".join(self.directions),
            type(self.sampler).__name__,
            type(self.pruner).__name__ if self.pruner else "none",
        )
        heartbeat = st.Heartbeat(storage)
        failure: str | None = None
        try:
            with warnings.catch_warnings():
                # our heartbeat thread does what optimize() would: not a misuse here
                warnings.filterwarnings("ignore", "Heartbeat of storage is supposed")
                failure = self._loop(study, heartbeat)
        finally:
            heartbeat.stop()
            summary = st.results(study, self.storage_url, self.n_trials)
            sweep_dir.mkdir(parents=True, exist_ok=True)
            (sweep_dir / RESULTS_FILE).write_text(yaml.safe_dump(summary, sort_keys=False))
            log.info("trials of study %s:\n%s", self.study_name, st.table(st.counted(study)))
            log.info("wrote %s", sweep_dir / RESULTS_FILE)
        if failure:
            raise ConfigError(failure)
        return summary

    def _loop(self, study: optuna.Study, heartbeat: st.Heartbeat) -> str | None:
        waited_for: set[int] = set()
        while True:
            st.fail_stale(study)
            trials = st.counted(study)
            waiting = sum(t.state == TrialState.WAITING for t in trials)
            batch = min(self.s.n_jobs, max(self.n_trials - len(trials), 0) + waiting)
            if batch <= 0:
                running = {t.number for t in trials if t.state == TrialState.RUNNING}
                if not running or heartbeat.interval is None:
                    return None  # without heartbeats a dead worker's trial never goes stale
                if running - waited_for:
                    log.info("waiting for trials %s running elsewhere", sorted(running))
                    waited_for |= running
                time.sleep(heartbeat.interval)
                continue
            asked = [study.ask() for _ in range(batch)]
            overrides = [self._overrides(trial) for trial in asked]
            for trial in asked:
                heartbeat.add(trial._trial_id)
            for trial, ret in zip(asked, self._launch(overrides), strict=True):
                self._tell(study, trial, ret)
                heartbeat.discard(trial._trial_id)
                log.info(st.trial_line(study._storage.get_trial(trial._trial_id)))
            stop = self._failure_rate_exceeded(study)
            if stop:
                return stop

    def _overrides(self, trial: Trial) -> list[str]:
        values = {name: suggest(trial, name, d) for name, d in self.space.distributions.items()}
        if self.custom is not None:
            self.custom(self.config, trial)
        overlap = set(trial.params) & set(self.space.fixed)
        if overlap:
            raise ConfigError(
                f"hydra.sweeper.params: {sorted(overlap)} are both fixed and searched"
            )
        values.update(trial.params)
        out = [f"{k}={v}" for k, v in self.space.fixed.items()]
        out += [f"{k}={sp.format_value(v)}" for k, v in values.items()]
        names = {k.lstrip("+~") for k in (*values, *self.space.fixed)}
        if "seed" not in names and self.config.get("seed") is not None:
            out.append(f"seed={int(self.config.seed) + trial.number}")
        out += self.extra
        out += [
            f"optuna.storage='{self.storage_url}'",
            f"optuna.study_name='{self.study_name}'",
            f"optuna.trial={trial.number}",
        ]
        trial.set_user_attr("overrides", [o for o in out if not o.startswith("optuna.")])
        return out

    def _launch(self, batch: list[list[str]]) -> list[JobReturn | BaseException]:
        """Launch a batch; if the launcher itself raises (a trial's overrides don't compose),
        launch the trials one by one so only the bad one fails."""
        try:
            rets: list[JobReturn | BaseException] = list(
                self.launcher.launch(batch, initial_job_idx=self.job_idx)
            )
            self.job_idx += len(batch)
            return rets
        except Exception as err:
            if len(batch) == 1:
                self.job_idx += 1
                return [err]
        return [r for one in batch for r in self._launch([one])]

    def _tell(self, study: optuna.Study, trial: Trial, ret: JobReturn | BaseException) -> None:
        if isinstance(ret, JobReturn) and ret.hydra_cfg is not None:
            out_dir = OmegaConf.select(ret.hydra_cfg, "hydra.runtime.output_dir")
            if out_dir:
                trial.set_user_attr("run_dir", str(out_dir))
        try:
            if isinstance(ret, BaseException):
                raise ret
            if ret.status == JobStatus.FAILED:
                # JobReturn.return_value would print "Error executing job" for a pruned trial
                raise ret._return_value
            values = self._values(ret._return_value)
        except optuna.TrialPruned:
            _tell(study, trial, state=TrialState.PRUNED)
            return
        except Exception as err:
            trial.set_user_attr("fail_reason", _one_line(err))
            _tell(study, trial, state=TrialState.FAIL)
            return
        _tell(study, trial, values=values)

    def _values(self, value: Any) -> list[float]:
        items = list(value) if isinstance(value, (list, tuple, ListConfig)) else [value]
        if len(items) != len(self.directions):
            raise ValueError(
                f"returned {len(items)} value(s) for {len(self.directions)} direction(s)"
            )
        try:
            values = [float(v) for v in items]
        except (TypeError, ValueError):
            raise ValueError(f"returned {value!r}, not a number") from None
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"returned {value!r}")
        return values

    def _failure_rate_exceeded(self, study: optuna.Study) -> str | None:
        finished = [t for t in st.counted(study) if t.state in st.FINISHED]
        failed = [t for t in finished if t.state == TrialState.FAIL]
        if len(finished) < min(MIN_TRIALS_FOR_FAILURE_RATE, self.n_trials) or not failed:
            return None
        rate = len(failed) / len(finished)
        if rate <= self.s.max_failure_rate:
            return None
        last = failed[-1]
        return (
            f"hydra.sweeper.max_failure_rate={self.s.max_failure_rate} exceeded: "
            f"{len(failed)} of {len(finished)} finished trials failed "
            f"(last: trial {last.number}: {last.user_attrs.get('fail_reason', 'failed')})"
        )


def _tell(study: optuna.Study, trial: Trial, **kwargs: Any) -> None:
    try:
        study.tell(trial, **kwargs)
    except RuntimeError as err:
        # GridSampler stops the study once the grid is covered, which is only allowed inside
        # optimize(); the trial is already recorded, and our loop ends on n_trials anyway.
        if "Study.stop" not in str(err):
            raise


def _build(key: str, node: DictConfig) -> Any:
    """Instantiate hydra.sweeper.<key>; Hydra's own error, on one line, names the key."""
    try:
        return instantiate(node)
    except InstantiationException as err:
        first = (
            str(err)
            .strip()
            .splitlines()[0]
            .replace(", set env var HYDRA_FULL_ERROR=1 to see chained exception", "")
        )
        raise ConfigError(f"hydra.sweeper.{key}: {first}") from None


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")
