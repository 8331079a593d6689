"""The `uplift` console script: each part registers its own commands; heavy imports stay inside them."""

from __future__ import annotations

import importlib
import os

# XGBoost's OpenMP threads spin at every barrier (libgomp's default: ~300,000 spins) before they sleep.
# On a shared machine a descheduled thread turns each barrier into a long spin: beside one other busy
# process on 2 cores, three T-learner fits took 4.4 s with the default and 2.1 s with 1,000 spins, for
# 1.1 s vs 1.4 s on a quiet machine (loadtests/bench_omp_spin.py): a bounded cost when quiet for half the
# time when not. Read when libgomp loads, so it is set before any import of it; the environment wins.
os.environ.setdefault("GOMP_SPINCOUNT", "1000")

import typer

app = typer.Typer(
    name="uplift",
    help="Uplift modelling and policy serving: generate data, train, score, serve, analyze.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Module paths, not imports, so a service image that lacks another service's group still starts.
_COMMAND_MODULES = (
    "services.trainer.commands",
    "services.analysis.commands",
    "services.events.commands",
    "services.api.commands",
    "services.dashboard.commands",
    "services.space.commands",
    "services.policy.commands",
)


def _register_all() -> None:
    for path in _COMMAND_MODULES:
        try:
            module = importlib.import_module(path)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("services."):
                continue  # that part is not built yet / not shipped in this image
            raise
        module.register(app)


_register_all()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
