"""Train (or sweep) an image model from composable YAML.

    python run.py                                   # the default: digits, ResNet-18
    python run.py model=resnet101 trainer=ddp optimizer.lr=0.05
    python run.py experiment=fashion_mnist_resnet20
    python run.py resume=outputs/2026-11-24/10-00-00
    python run.py -m optimizer.lr=0.01,0.1          # one run per value
    python run.py -m hydra/sweeper=optuna           # an Optuna study (sweep=default)
    python run.py -m sweep=depth                    # a named search space from conf/sweep/

Everything heavy (torch, Lightning) is imported inside mlpresets.train.run, so --help and
--cfg answer at once.
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from mlpresets import errors, resolvers
from mlpresets.cli import in_multirun, resume_argv
from mlpresets.errors import ConfigError

log = logging.getLogger(__name__)


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float | list[float] | None:
    from mlpresets.train import run

    try:
        return run(cfg)
    except Exception as err:
        user_error = errors.user_error(err)
        if user_error is None:
            raise
        log.error(str(user_error))
        if in_multirun():
            raise user_error from None  # the sweeper records it and goes on
        print(f"error: {user_error}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    resolvers.register()
    try:
        sys.argv = resume_argv(sys.argv)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(1) from None
    main()
