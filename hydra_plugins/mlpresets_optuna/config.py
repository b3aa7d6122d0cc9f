"""Config schema of `hydra/sweeper=optuna`, a superset of hydra-optuna-sweeper 1.3's.

Every key that plugin accepts is accepted here with the same meaning, so its users' files run
unchanged; the additions are `pruner`, the heartbeat keys and `retries`. Samplers and pruners
are plain `_target_` nodes, so any Optuna sampler or pruner (or a path of your own) works.

No `from __future__ import annotations` here: Hydra's plugin scan executes this module outside
sys.modules, where dataclasses cannot resolve string annotations.
"""

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


class Direction(Enum):
    minimize = 1
    maximize = 2


class DistributionType(Enum):
    int = 1
    float = 2
    categorical = 3


@dataclass
class DistributionConfig:
    """One entry of the deprecated `search_space` mapping (hydra-optuna-sweeper < 1.2)."""

    type: DistributionType
    choices: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None


@dataclass
class SamplerConfig:
    _target_: str = MISSING
    seed: int | None = None


@dataclass
class TPESamplerConfig(SamplerConfig):
    # None = Optuna's own default (several of these are deprecated in Optuna 4/5).
    _target_: str = "optuna.samplers.TPESampler"
    consider_prior: bool | None = None
    prior_weight: float | None = None
    consider_magic_clip: bool | None = None
    consider_endpoints: bool | None = None
    n_startup_trials: int = 10
    n_ei_candidates: int = 24
    multivariate: bool | None = None
    group: bool = False
    warn_independent_sampling: bool | None = None
    constant_liar: bool = True  # parallel workers don't all sample the same point


@dataclass
class RandomSamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.RandomSampler"


@dataclass
class CmaEsSamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.CmaEsSampler"
    x0: dict[str, Any] | None = None
    sigma0: float | None = None
    n_startup_trials: int = 1
    independent_sampler: Any = None
    warn_independent_sampling: bool = True
    consider_pruned_trials: bool = False
    restart_strategy: str | None = None
    popsize: int | None = None
    inc_popsize: int = -1
    use_separable_cma: bool = False
    with_margin: bool = False
    lr_adapt: bool = False
    source_trials: Any = None


@dataclass
class NSGAIISamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.NSGAIISampler"
    population_size: int = 50
    mutation_prob: float | None = None
    crossover_prob: float = 0.9
    swapping_prob: float = 0.5
    constraints_func: Any = None


@dataclass
class MOTPESamplerConfig(TPESamplerConfig):
    # MOTPESampler left Optuna in 4.0: TPESampler optimizes several objectives itself.
    pass


@dataclass
class QMCSamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.QMCSampler"
    qmc_type: str = "sobol"
    scramble: bool = False


@dataclass
class GridSamplerConfig(SamplerConfig):
    # The sweeper fills search_space from `params`; the grid's size caps n_trials.
    _target_: str = "optuna.samplers.GridSampler"
    search_space: dict[str, Any] | None = None
    _partial_: bool = True


@dataclass
class PrunerConfig:
    _target_: str = MISSING


@dataclass
class NopPrunerConfig(PrunerConfig):
    _target_: str = "optuna.pruners.NopPruner"


@dataclass
class MedianPrunerConfig(PrunerConfig):
    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = 5  # never prune before this many trials finished
    n_warmup_steps: int = 0  # epochs a trial always runs
    interval_steps: int = 1
    n_min_trials: int = 1


@dataclass
class PercentilePrunerConfig(MedianPrunerConfig):
    _target_: str = "optuna.pruners.PercentilePruner"
    percentile: float = 25.0


@dataclass
class HyperbandPrunerConfig(PrunerConfig):
    _target_: str = "optuna.pruners.HyperbandPruner"
    min_resource: int = 1  # epochs every trial gets
    max_resource: Any = "auto"  # epochs of a full trial; auto = the longest seen
    reduction_factor: int = 3
    bootstrap_count: int = 0


@dataclass
class SuccessiveHalvingPrunerConfig(PrunerConfig):
    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = "auto"
    reduction_factor: int = 4
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0


@dataclass
class ThresholdPrunerConfig(PrunerConfig):
    _target_: str = "optuna.pruners.ThresholdPruner"
    lower: float | None = None  # prune when the reported value falls below
    upper: float | None = None  # or rises above
    n_warmup_steps: int = 0
    interval_steps: int = 1


@dataclass
class OptunaSweeperConf:
    _target_: str = "hydra_plugins.mlpresets_optuna.optuna_sweeper.OptunaSweeper"
    _recursive_: bool = False  # the sweeper instantiates sampler and pruner itself, lazily
    defaults: list[Any] = field(default_factory=lambda: [{"sampler": "tpe"}, {"pruner": "nop"}])

    sampler: Any = MISSING
    # ours: asked after every epoch with the monitored validation metric
    pruner: Any = MISSING  # a `pruner` group option; null = never prune
    # minimize | maximize, or a list of them for several objectives; null follows the config's
    # `monitor_mode` (max -> maximize), else minimize as hydra-optuna-sweeper does
    direction: Any = None
    # null: sqlite:///<paths.log_dir>/optuna/<study_name>.db, so a re-run resumes
    storage: Any = None
    # null: <sweep>-<data>-<hash of the search space and the fixed overrides>
    study_name: str | None = None
    # the study's total: re-running after a kill runs only the missing ones
    n_trials: int = 20
    # trials asked (and launched) at once: >1 only pays with a parallel launcher (joblib)
    n_jobs: int = 1
    # stop once more than this fraction of finished trials failed (checked from 3 trials on)
    max_failure_rate: float = 0.5
    search_space: dict[str, Any] | None = None  # deprecated form of `params`
    params: dict[str, str] | None = None
    # "module.function(cfg, trial)" suggesting extra (e.g. conditional) parameters
    custom_search_space: str | None = None
    # ours: a trial whose heartbeat is older than grace_period seconds (default 2x interval)
    # is failed as stale (its process died) and its parameters are retried `retries` times
    heartbeat_interval: int = 30
    grace_period: int | None = None
    retries: int = 1


_cs = ConfigStore.instance()
_cs.store(group="hydra/sweeper", name="optuna", node=OptunaSweeperConf, provider="mlpresets")
for _name, _node in {
    "tpe": TPESamplerConfig,
    "random": RandomSamplerConfig,
    "cmaes": CmaEsSamplerConfig,
    "nsgaii": NSGAIISamplerConfig,
    "motpe": MOTPESamplerConfig,
    "qmc": QMCSamplerConfig,
    "grid": GridSamplerConfig,
}.items():
    _cs.store(group="hydra/sweeper/sampler", name=_name, node=_node, provider="mlpresets")
for _name, _node in {
    "nop": NopPrunerConfig,
    "median": MedianPrunerConfig,
    "percentile": PercentilePrunerConfig,
    "hyperband": HyperbandPrunerConfig,
    "successive_halving": SuccessiveHalvingPrunerConfig,
    "threshold": ThresholdPrunerConfig,
}.items():
    _cs.store(group="hydra/sweeper/pruner", name=_name, node=_node, provider="mlpresets")
