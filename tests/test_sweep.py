"""hydra/sweeper=optuna: grammar, schema compatibility, pruning, failures, resume, workers.

Sweeps run through the real CLI (`python run.py -m ...`) on digits with a few batches per
epoch; the study is read back from its storage with Optuna itself.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState

from mlpresets.errors import ConfigError
from mlpresets.sweep.space import from_search_space, parse_space
from tests.conftest import FEW, QUIET, ROOT, cli

LR = "optimizer.lr=interval(0.01, 0.1)"


def sweep(tmp: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return cli("-m", "hydra/sweeper=optuna", *FEW, *QUIET, *args, cwd=tmp, timeout=timeout)


def study_of(tmp: Path, storage: str | None = None) -> optuna.Study:
    if storage is None:
        (db,) = (tmp / "outputs" / "optuna").glob("*.db")
        storage, name = f"sqlite:///{db}", db.stem
    else:
        (name,) = optuna.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage)


def results_of(tmp: Path) -> list[dict[str, Any]]:
    files = sorted((tmp / "outputs" / "multirun").glob("*/*/optimization_results.yaml"))
    return [yaml.safe_load(f.read_text()) for f in files]


def states(study: optuna.Study) -> list[str]:
    return [t.state.name for t in study.trials]


def ok(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, proc.stderr[-3000:]


# -- the grammar: every form hydra-optuna-sweeper 1.3 reads ----------------------------------
def test_every_grammar_form_becomes_its_optuna_distribution() -> None:
    space = parse_space(
        {
            "a": "choice(32, 64, 128)",
            "b": "x, y, z",
            "c": "range(1, 5)",
            "d": "range(1, 9, 2)",
            "e": "range(0.0, 1.0, 0.25)",
            "f": "interval(0.1, 0.9)",
            "g": "int(interval(1, 10))",
            "h": "tag(log, interval(1e-4, 1e-1))",
            "i": "tag(log, int(interval(16, 256)))",
            "j": "shuffle(range(1, 4))",
            "model": "resnet18",
        },
        ["f=interval(0.2, 0.3)", "data=fashion_mnist"],  # the command line wins over params
    )
    j = space.distributions.pop("j")  # shuffle(): the same values, in a random order
    assert isinstance(j, CategoricalDistribution) and sorted(j.choices) == [1, 2, 3]
    assert space.distributions == {
        "a": CategoricalDistribution((32, 64, 128)),
        "b": CategoricalDistribution(("x", "y", "z")),
        "c": IntDistribution(1, 5, step=1),
        "d": IntDistribution(1, 9, step=2),
        "e": FloatDistribution(0.0, 1.0, step=0.25),
        "f": FloatDistribution(0.2, 0.3),
        "g": IntDistribution(1, 10),
        "h": FloatDistribution(1e-4, 1e-1, log=True),
        "i": IntDistribution(16, 256, log=True),
    }
    assert space.fixed == {"model": "resnet18", "data": "fashion_mnist"}


def test_the_deprecated_search_space_form_reads_as_params() -> None:
    params = from_search_space(
        {
            "lr": {"type": "float", "low": 1e-4, "high": 0.1, "log": True},
            "bs": {"type": "int", "low": 16, "high": 64, "step": 16},
            "opt": {"type": "categorical", "choices": ["sgd", "adam"]},
        }
    )
    assert parse_space(params).distributions == {
        "lr": FloatDistribution(1e-4, 0.1, log=True),
        "bs": IntDistribution(16, 64, step=16),
        "opt": CategoricalDistribution(("sgd", "adam")),
    }


def test_a_malformed_expression_names_the_parameter_and_the_expression() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^hydra\.sweeper\.params\.optimizer\.lr: cannot parse 'interval\(0\.1,': ",
    ):
        parse_space({"optimizer.lr": "interval(0.1,"})
    with pytest.raises(
        ConfigError,
        match=r"^optimizer\.lr: 'interval\(0\.2, 0\.1\)': `low <= high` must hold, "
        r"but got \(low=0\.2, high=0\.1\)\.$",
    ):
        parse_space({}, ["optimizer.lr=interval(0.2, 0.1)"])


# -- bad input through the CLI: one line, exit 1 -----------------------------------------------
def _hparams_search(tmp: Path, name: str, body: str) -> list[str]:
    """A config group of the user's own, as lightning-hydra-template ships `hparams_search`."""
    group = tmp / "user_conf" / "hparams_search"
    group.mkdir(parents=True, exist_ok=True)
    (group / f"{name}.yaml").write_text(body)
    return [f"hydra.searchpath=[file://{tmp / 'user_conf'}]", f"+hparams_search={name}"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["hydra.sweeper.storage=postgresql+psycopg://me:secret@127.0.0.1:1/x"],
            "error: hydra.sweeper.storage: cannot open 'postgresql+psycopg://me:***@127.0.0.1:1/x': "
            'connection to server at "127.0.0.1", port 1 failed: Connection refused',
        ),
        (
            ["hydra.sweeper.sampler._target_=optuna.samplers.NoSuchSampler"],
            "error: hydra.sweeper.sampler: Error locating target 'optuna.samplers.NoSuchSampler'.",
        ),
        (
            ["hydra/sweeper/pruner=median", "hydra.sweeper.pruner._target_=optuna.pruners.Nope"],
            "error: hydra.sweeper.pruner: Error locating target 'optuna.pruners.Nope'.",
        ),
        (
            ["hydra.sweeper.max_failure_rate=1.5"],
            "error: hydra.sweeper.max_failure_rate=1.5: not within [0, 1]",
        ),
        (
            ["hydra.sweeper.direction=up"],
            "error: hydra.sweeper.direction: 'up' is not minimize or maximize",
        ),
        (
            ["hydra/sweeper/sampler=grid"],
            "error: hydra.sweeper.params.optimizer.lr: the grid sampler needs choice(...) or range(...), "
            "not a continuous FloatDistribution",
        ),
        (
            ["hydra.sweeper.custom_search_space=no_such_module.space"],
            "error: hydra.sweeper.custom_search_space=no_such_module.space: cannot import it "
            "(ModuleNotFoundError: No module named 'no_such_module')",
        ),
        (
            [
                "hydra.sweeper.custom_search_space=mlpresets.sweep.spaces.scheduler",
                "scheduler=step",
            ],
            "error: hydra.sweeper.params: ['scheduler'] are both fixed and searched",
        ),
    ],
)
def test_bad_sweeper_settings_fail_in_one_line(
    tmp_path: Path, args: list[str], message: str
) -> None:
    proc = sweep(tmp_path, LR, *args)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == message
    assert "Traceback" not in proc.stderr


def test_a_study_stored_with_other_directions_is_refused(tmp_path: Path) -> None:
    from mlpresets.sweep.study import default_storage

    storage = default_storage(tmp_path / "outputs", "old")
    optuna.create_study(study_name="old", storage=storage, direction="minimize")
    proc = sweep(tmp_path, LR, "hydra.sweeper.study_name=old")  # maximize (monitor_mode max)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: hydra.sweeper.study_name=old: the stored study's directions are ['minimize'], "
        "this sweep's ['maximize'] (pick another study_name)"
    ), proc.stderr[-2000:]
    assert optuna.load_study(study_name="old", storage=storage).trials == []  # nothing ran


def test_search_space_entries_of_an_unknown_type_are_refused() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^hydra\.sweeper\.search_space\.x\.type: 'bool' is not int, float or categorical$",
    ):
        from_search_space({"x": {"type": "bool"}})


def test_a_malformed_params_file_fails_in_one_line(tmp_path: Path) -> None:
    body = (
        "# @package _global_\nhydra:\n  sweeper:\n    params:\n      optimizer.lr: interval(0.1,\n"
    )
    proc = sweep(tmp_path, *_hparams_search(tmp_path, "bad", body))
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "error: hydra.sweeper.params.optimizer.lr: cannot parse 'interval(0.1,': "
    ), proc.stderr[-2000:]


# -- a file written for hydra-optuna-sweeper 1.3 runs unchanged ----------------------------
RELEASED_STYLE = """\
# @package _global_
# lightning-hydra-template's configs/hparams_search/mnist_optuna.yaml, with our keys
defaults:
  - override /hydra/sweeper: optuna

optimized_metric: "val/acc_best"

hydra:
  mode: "MULTIRUN"
  sweeper:
    _target_: hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper
    storage: null
    study_name: released_style
    n_jobs: 1
    direction: maximize
    n_trials: 20
    max_failure_rate: 0.0
    sampler:
      _target_: optuna.samplers.TPESampler
      seed: 1234
      n_startup_trials: 10
    params:
      optimizer.lr: interval(0.0001, 0.1)
      data.batch_size: choice(32, 64, 128, 256)
"""


def test_a_hydra_optuna_sweeper_1_3_file_runs_unchanged(tmp_path: Path) -> None:
    # hydra.mode=MULTIRUN in the file: no -m on the command line, as that plugin's users do
    proc = cli(
        *FEW,
        *QUIET,
        *_hparams_search(tmp_path, "released", RELEASED_STYLE),
        "hydra.sweeper.n_trials=2",
        cwd=tmp_path,
    )
    ok(proc)
    study = study_of(tmp_path)
    assert study.study_name == "released_style"
    assert states(study) == ["COMPLETE", "COMPLETE"]
    assert set(study.trials[0].params) == {"optimizer.lr", "data.batch_size"}
    assert 1e-4 <= study.trials[0].params["optimizer.lr"] <= 0.1
    (summary,) = results_of(tmp_path)
    assert summary["counts"]["COMPLETE"] == 2
    assert summary["best_value"] == max(t.value for t in study.trials)
    assert summary["best_params"] == study.best_trial.params


# -- pruning -----------------------------------------------------------------------------------
def test_a_pruner_that_must_prune_gives_pruned_trials(tmp_path: Path) -> None:
    # val/acc can never exceed 1.01: the threshold pruner stops every trial after epoch 1.
    proc = sweep(
        tmp_path,
        LR,
        "hydra/sweeper/pruner=threshold",
        "hydra.sweeper.pruner.lower=1.01",
        "hydra.sweeper.n_trials=2",
        "trainer.max_epochs=3",
    )
    ok(proc)
    study = study_of(tmp_path)
    assert states(study) == ["PRUNED", "PRUNED"]
    for k, trial in enumerate(study.trials):
        assert list(trial.intermediate_values) == [1]
        run_dir = Path(trial.user_attrs["run_dir"])
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert metrics["pruned_at_epoch"] == 1 and metrics["epochs"] == 1
        assert "test/acc" not in metrics  # a pruned trial is not tested
        assert trial.intermediate_values[1] == pytest.approx(metrics["val/acc"])
        # trial k runs with seed + k
        saved = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
        assert saved["seed"] == 42 + k
        assert saved["optuna"]["trial"] == trial.number
    (summary,) = results_of(tmp_path)
    assert summary["counts"] == {"COMPLETE": 0, "PRUNED": 2, "FAIL": 0, "RUNNING": 0}
    assert "best_value" not in summary
    assert "trial 1 PRUNED value=" in proc.stderr + proc.stdout


def test_several_objectives_give_a_pareto_front(tmp_path: Path) -> None:
    proc = sweep(
        tmp_path,
        LR,
        "optimized_metric=[val/acc_best,val/loss]",
        "hydra.sweeper.direction=[maximize,minimize]",
        "hydra.sweeper.n_trials=2",
    )
    ok(proc)
    study = study_of(tmp_path)
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert states(study) == ["COMPLETE", "COMPLETE"]
    for trial in study.trials:
        metrics = json.loads((Path(trial.user_attrs["run_dir"]) / "metrics.json").read_text())
        assert trial.values == pytest.approx([metrics["val/acc_best"], metrics["val/loss"]])
    (summary,) = results_of(tmp_path)
    front = {t.number for t in study.best_trials}
    assert {t["number"] for t in summary["best_trials"]} == front


# -- failures ----------------------------------------------------------------------------------
def test_raising_and_nan_trials_fail_and_the_sweep_goes_on(tmp_path: Path) -> None:
    # The grid walks all four: batch 0 raises (twice), lr 1e30 returns a NaN loss, one is fine.
    proc = sweep(
        tmp_path,
        "hydra/sweeper/sampler=grid",
        "hydra.sweeper.max_failure_rate=1.0",
        "hydra.sweeper.direction=minimize",
        "data.batch_size=choice(32, 0)",
        "optimizer.lr=choice(0.05, 1e30)",
        "callbacks.non_finite_loss=null",
        "optimized_metric=val/loss",
    )
    ok(proc)
    study = study_of(tmp_path)
    by_params = {(t.params["data.batch_size"], t.params["optimizer.lr"]): t for t in study.trials}
    assert by_params[(32, 0.05)].state == TrialState.COMPLETE
    for lr in (0.05, 1e30):
        failed = by_params[(0, lr)]
        assert failed.state == TrialState.FAIL
        assert failed.user_attrs["fail_reason"] == (
            "ValueError: batch_size should be a positive integer value, but got batch_size=0"
        )
    nan = by_params[(32, 1e30)]
    assert nan.state == TrialState.FAIL
    assert nan.user_attrs["fail_reason"] == "ValueError: returned nan"
    (summary,) = results_of(tmp_path)
    assert summary["counts"] == {"COMPLETE": 1, "PRUNED": 0, "FAIL": 3, "RUNNING": 0}


def test_max_failure_rate_exceeded_stops_the_sweep_with_a_clear_message(tmp_path: Path) -> None:
    proc = sweep(
        tmp_path,
        "hydra.sweeper.max_failure_rate=0.5",
        "hydra.sweeper.n_trials=10",
        "data.batch_size=choice(0, -1)",  # every trial raises
    )
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "error: hydra.sweeper.max_failure_rate=0.5 exceeded: 3 of 3 finished trials failed "
            "(last: trial 2: ValueError: batch_size should be a positive integer value"
        )
    )
    study = study_of(tmp_path)
    assert states(study) == ["FAIL"] * 3  # stopped at the first check, not after 10
    (summary,) = results_of(tmp_path)  # the results are still written
    assert summary["counts"]["FAIL"] == 3


# -- resume and heartbeats ---------------------------------------------------------------------
def _wait_for(predicate: Any, timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _running(tmp: Path, number: int) -> bool:
    dbs = list((tmp / "outputs" / "optuna").glob("*.db"))
    if not dbs:
        return False
    try:
        trials = study_of(tmp).get_trials(deepcopy=False)
    except Exception:  # the sweep is still creating the study
        return False
    return len(trials) > number and trials[number].state == TrialState.RUNNING


HEARTBEAT = ["hydra.sweeper.heartbeat_interval=1", "hydra.sweeper.grace_period=3"]


@pytest.mark.slow
def test_kill_9_then_the_same_command_resumes_to_exactly_n_trials(tmp_path: Path) -> None:
    args = [
        "-m",
        "hydra/sweeper=optuna",
        *FEW,
        *QUIET,
        LR,
        "hydra.sweeper.n_trials=4",
        "trainer.max_epochs=2",
        *HEARTBEAT,
    ]
    cmd = [sys.executable, str(ROOT / "run.py"), *args]
    first = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for(lambda: _running(tmp_path, 1), 300, "trial 1 to start")
        time.sleep(1.5)  # inside trial 1's training
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    killed = study_of(tmp_path).trials[1]
    assert killed.state == TrialState.RUNNING  # left behind by the dead process

    ok(cli(*args, cwd=tmp_path))
    study = study_of(tmp_path)
    trials = study.trials
    assert trials[1].state == TrialState.FAIL  # failed by the heartbeat
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == 1]
    assert len(retries) == 1 and retries[0].params == killed.params  # retried once
    counted = [t for t in trials if t.number != 1]
    assert len(counted) == 4  # exactly n_trials, the retry replacing the killed one
    assert all(t.state == TrialState.COMPLETE for t in counted)
    assert trials[0].state == TrialState.COMPLETE
    runs = sorted((tmp_path / "outputs" / "multirun").glob("*/*"))
    assert len(runs) == 2  # one sweep dir per invocation, nothing overwritten
    (summary,) = [r for r in results_of(tmp_path)]
    assert summary["counts"] == {"COMPLETE": 4, "PRUNED": 0, "FAIL": 0, "RUNNING": 0}


def test_a_stale_running_trial_is_failed_by_the_heartbeat_and_retried(tmp_path: Path) -> None:
    from mlpresets.sweep.study import default_storage

    name = "stale"
    storage = default_storage(tmp_path / "outputs", name)
    rdb = optuna.storages.RDBStorage(storage, heartbeat_interval=1, grace_period=2)
    study = optuna.create_study(study_name=name, storage=rdb, direction="maximize")
    dead = study.ask()
    dead.suggest_float("optimizer.lr", 0.01, 0.1)
    rdb.record_heartbeat(dead._trial_id)  # then its process "dies": no more beats
    time.sleep(3.5)  # older than the grace period by the time the sweep looks

    proc = sweep(
        tmp_path, LR, f"hydra.sweeper.study_name={name}", "hydra.sweeper.n_trials=2", *HEARTBEAT
    )
    ok(proc)
    trials = study_of(tmp_path).trials
    assert [t.state.name for t in trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert trials[1].system_attrs["failed_trial"] == 0
    assert trials[1].params == trials[0].params


# -- workers -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_two_workers_share_one_study_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    args = [
        sys.executable,
        str(ROOT / "run.py"),
        "-m",
        "hydra/sweeper=optuna",
        *FEW,
        *QUIET,
        LR,
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.study_name=shared",
        f"hydra.sweeper.storage={postgres_url}",
    ]
    workers = [
        subprocess.Popen(
            args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=600) for w in workers]
    for w, (_, err) in zip(workers, outputs, strict=True):
        assert w.returncode == 0, err[-3000:]
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(len(numbers)))  # no duplicate trial numbers
    assert 6 <= len(numbers) <= 7  # n_trials, plus at most workers - 1 from a race
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    # both workers ran trials, each in its own sweep dir
    sweeps = sorted((tmp_path / "outputs" / "multirun").glob("*/*"))
    assert len(sweeps) == 2
    assert all(any(p.is_dir() for p in s.iterdir()) for s in sweeps)
    run_dirs = {t.user_attrs["run_dir"] for t in study.trials}
    assert len(run_dirs) == len(numbers)


@pytest.mark.slow
def test_parallel_trials_with_the_joblib_launcher(tmp_path: Path) -> None:
    proc = sweep(
        tmp_path,
        LR,
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=4",
        "hydra/sweeper/pruner=median",
        "hydra.sweeper.pruner.n_startup_trials=0",
        "trainer.max_epochs=2",
    )
    ok(proc)
    study = study_of(tmp_path)
    assert len(study.trials) == 4
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)
    assert all(1 in t.intermediate_values for t in study.trials)  # workers reported to SQLite


@pytest.mark.slow
def test_a_ddp_cpu_trial_with_pruning_finishes_without_hanging(tmp_path: Path) -> None:
    proc = sweep(
        tmp_path,
        LR,
        "trainer=ddp_cpu",
        "hydra/sweeper/pruner=threshold",
        "hydra.sweeper.pruner.lower=1.01",
        "hydra.sweeper.n_trials=2",
        "trainer.max_epochs=3",
        timeout=300,
    )
    ok(proc)
    study = study_of(tmp_path)
    assert states(study) == ["PRUNED", "PRUNED"]
    (sweep_dir,) = (tmp_path / "outputs" / "multirun").glob("*/*")
    jobs = sorted(p.name for p in sweep_dir.iterdir() if p.is_dir())
    assert jobs == ["0", "1"]  # rank 1 wrote into its trial's dir, not a sweep of its own
    for job in jobs:
        metrics = json.loads((sweep_dir / job / "metrics.json").read_text())
        assert metrics["pruned_at_epoch"] == 1  # both ranks stopped after the same epoch
        assert (sweep_dir / job / "train_ddp_process_1.log").exists()


# -- acceptance: the default space on digits ---------------------------------------------------
@pytest.mark.slow
def test_the_default_sweep_on_digits(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    proc = cli(
        "-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=6", *QUIET, cwd=tmp_path, timeout=900
    )
    ok(proc)
    study = study_of(tmp_path)
    assert study.study_name.startswith("default-digits-")
    assert len(study.trials) == 6
    assert set(study.trials[0].params) == {
        "optimizer.lr",
        "optimizer.weight_decay",
        "data.batch_size",
        "scheduler",
    }
    (summary,) = results_of(tmp_path)
    assert sum(summary["counts"].values()) == 6 and summary["counts"]["COMPLETE"] >= 1
    assert summary["best_value"] > 0.9  # digits: a decent trial is found in 6
    for trial in study.trials:
        if trial.state == TrialState.FAIL:
            continue
        events = EventAccumulator(str(Path(trial.user_attrs["run_dir"]) / "tensorboard"))
        events.Reload()
        assert "val/acc" in events.Tags()["scalars"]
        hparams = events.PluginTagToContent("hparams")
        assert hparams, "the trial's params and value belong in the HPARAMS tab"
        blob = b"".join(hparams.values())
        assert b"optimizer/lr" in blob and b"hparams/val/acc_best" in blob
