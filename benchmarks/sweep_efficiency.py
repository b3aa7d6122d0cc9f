"""TPE + Hyperband pruning (sweep=default) against random search without pruning (sweep=random).

Both search the same space (conf/sweep/_everyday.yaml) on digits through the real CLI, for
each seed, with the same budget of training epochs: the random search runs --trials full
trials; the pruned search is resumed with more trials (the same command with a larger
n_trials) until it has spent as many epochs. For every pair the measure is the number of
epochs spent until a trial first reaches the random baseline's best validation accuracy
(pruned trials' epochs count; the reaching trial counts up to the epoch where it got there).
Prints that ratio per seed and its mean: below 1 means the guided search gets there with
less training. Target: <= 0.5.

    python benchmarks/sweep_efficiency.py                      # 3 seeds, 12 trials, ResNet-20
    python benchmarks/sweep_efficiency.py --seeds 1 --trials 6 --model resnet18
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

ROOT = Path(__file__).resolve().parents[1]


def run_sweep(
    kind: str, seed: int, args: argparse.Namespace, log_dir: Path, n_trials: int
) -> optuna.Study:
    name = f"{kind}-{seed}"
    cmd = [
        sys.executable,
        str(ROOT / "run.py"),
        "-m",
        f"sweep={kind}",
        f"seed={seed}",
        f"model={args.model}",
        f"trainer.max_epochs={args.epochs}",
        f"hydra.sweeper.n_trials={n_trials}",
        f"hydra.sweeper.study_name={name}",
        f"paths.log_dir={log_dir}",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "test=false",  # only validation accuracy matters for the search
    ]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{kind} seed {seed} failed:\n{proc.stderr[-3000:]}")
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{log_dir}/optuna/{name}.db")
    print(
        f"  {kind:8s} seed {seed}: {len(study.trials)} trials, {total_epochs(study)} epochs, "
        f"{time.perf_counter() - start:6.1f} s",
        flush=True,
    )
    return study


def equal_budget(seed: int, args: argparse.Namespace, log_dir: Path, budget: int) -> optuna.Study:
    """sweep=default, resumed with more trials until it has trained `budget` epochs."""
    n_trials = args.trials
    study = run_sweep("default", seed, args, log_dir, n_trials)
    while (spent := total_epochs(study)) < budget:
        per_trial = max(spent / len(study.trials), 1.0)
        n_trials += max(1, round((budget - spent) / per_trial))
        study = run_sweep("default", seed, args, log_dir, n_trials)
    return study


def epochs_to_reach(study: optuna.Study, target: float) -> tuple[int, bool]:
    """Epochs trained (trial order) until a validation accuracy >= target; all if never."""
    spent = 0
    for trial in sorted(study.trials, key=lambda t: t.number):
        for step in sorted(trial.intermediate_values):
            if trial.intermediate_values[step] >= target - 1e-9:
                return spent + step, True
        spent += max(trial.intermediate_values, default=0)
    return spent, False


def total_epochs(study: optuna.Study) -> int:
    return sum(max(t.intermediate_values, default=0) for t in study.trials)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=12, help="budget of each search")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of a full trial")
    parser.add_argument("--model", default="resnet20", help="conf/model option")
    args = parser.parse_args()
    print(
        f"digits, {args.model}, {args.trials} trials x {args.epochs} epochs, "
        f"seeds 0..{args.seeds - 1}",
        flush=True,
    )
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            log_dir = Path(tmp) / f"seed{seed}"
            base = run_sweep("random", seed, args, log_dir, args.trials)
            tuned = equal_budget(seed, args, log_dir, total_epochs(base))
            target = base.best_value
            base_epochs, _ = epochs_to_reach(base, target)
            tuned_epochs, reached = epochs_to_reach(tuned, target)
            ratio = tuned_epochs / max(base_epochs, 1)
            ratios.append(ratio)
            pruned = sum(t.state == optuna.trial.TrialState.PRUNED for t in tuned.trials)
            print(
                f"seed {seed}: random best val acc {target:.4f} after {base_epochs} epochs "
                f"(of {total_epochs(base)}); TPE+Hyperband "
                + (
                    f"reached it after {tuned_epochs}"
                    if reached
                    else f"never reached it in {tuned_epochs}"
                )
                + f" epochs (best {tuned.best_value:.4f}, {pruned} of {len(tuned.trials)} pruned, "
                f"{total_epochs(tuned)} epochs in all); ratio {'' if reached else '>'}{ratio:.2f}",
                flush=True,
            )
    print(
        f"epochs to reach the random baseline's best, TPE+Hyperband / random: "
        f"mean {statistics.mean(ratios):.2f}, per seed {', '.join(f'{r:.2f}' for r in ratios)}"
    )


if __name__ == "__main__":
    main()
