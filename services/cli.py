"""The `uplift` console script: each part registers its own commands; heavy imports stay inside them."""

from __future__ import annotations

import importlib

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
