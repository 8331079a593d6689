"""`uplift prepare`: raw clickstream + exposures → the experiment table `uplift train` and `analyze` read.

Also the writer behind `uplift generate --events` (a synthetic clickstream with a planted effect).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from shared.events import EventLayout, PrepareSummary


class Preset(StrEnum):
    retailrocket = "retailrocket"


def fail(message: str) -> typer.Exit:
    """One clear line on stderr and exit code 2, the convention for a bad invocation."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


@contextmanager
def _progress() -> Iterator[Callable[[str], None]]:
    """A transient spinner with the current step on stderr: shown on a terminal, silent in logs and
    pipes (so a failure there is the one error line)."""
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("start")
        yield lambda step: bar.update(task, description=step)


def _layout(preset: Preset | None, event_map: list[str], column_map: list[str]) -> EventLayout:
    from shared.events import PRESETS, EventLayout
    from shared.events.schema import EVENT, ITEM, TIMESTAMP, USER, parse_event_map

    base = PRESETS[preset.value] if preset is not None else EventLayout()
    try:
        extra = parse_event_map(event_map)
    except ValueError as exc:
        raise fail(f"--event-map: {exc}") from None
    columns = dict(base.columns)
    for item in column_map:
        canonical, sep, source = item.partition("=")
        if not sep or canonical not in (TIMESTAMP, USER, EVENT, ITEM, "revenue") or not source:
            raise fail(
                f"--column-map: must be NAME=SOURCE with NAME one of timestamp, user_id, event, item_id, "
                f"revenue; got {item!r}"
            )
        columns[canonical] = source
    revenue = columns.pop("revenue", base.revenue)
    return EventLayout(columns, {**base.events, **extra}, revenue)


def _check_file(path: Path, option: str) -> None:
    if not path.is_file():
        raise fail(f"{option}: no such file {path}")


def _next_step(out: Path, summary: PrepareSummary) -> str:
    exclude = ",".join(["exposure_day", *summary.outcomes])
    return (
        f"next: uplift train --data {out} --treatment variant --outcome purchased --id-column user_id "
        f"--exclude {exclude}"
    )


def prepare(
    events: Annotated[
        Path,
        typer.Option(help="Events (.csv[.gz] or .parquet): timestamp, user_id, event, item_id[, revenue]."),
    ],
    exposures: Annotated[
        Path,
        typer.Option(help="Exposures (.csv or .parquet): user_id, variant, exposed_at; one row per user."),
    ],
    out: Annotated[Path, typer.Option(help="Output table (.parquet): one row per exposed user.")],
    window_days: Annotated[
        float, typer.Option(help="Outcome window: events in (exposed_at, exposed_at + window] count.")
    ] = 14.0,
    session_gap_minutes: Annotated[
        float, typer.Option(help="Inactivity gap that ends a session (pre-exposure session features).")
    ] = 30.0,
    lookback_days: Annotated[
        int, typer.Option(help="Pre-exposure features use events in [exposed_at - lookback, exposed_at).")
    ] = 30,
    attribution_hours: Annotated[
        float,
        typer.Option(help="Funnel stitching: the earlier step of the same item at most this long before."),
    ] = 24.0,
    preset: Annotated[
        Preset | None, typer.Option(help="Known layout: retailrocket (events.csv: visitorid, itemid, ...).")
    ] = None,
    event_map: Annotated[
        list[str] | None,
        typer.Option(help="Source event name → view|click|add_to_cart|purchase, e.g. addtocart=add_to_cart."),
    ] = None,
    column_map: Annotated[
        list[str] | None,
        typer.Option(help="Canonical column → source column, e.g. user_id=visitorid (repeatable)."),
    ] = None,
    batch_rows: Annotated[
        int, typer.Option(help="Events per streamed batch (memory grows with it).")
    ] = 1_000_000,
) -> None:
    """Raw events + exposures → one row per exposed user: features before exposure, outcomes after it."""
    _check_file(events, "--events")
    _check_file(exposures, "--exposures")
    if not out.name.endswith(".parquet"):
        raise fail(f"--out: must be a .parquet file, got {out.name!r}")
    if not out.resolve().parent.is_dir():
        raise fail(f"--out: parent folder {out.resolve().parent} does not exist")
    from shared.events import EventsError, PrepareOptions
    from shared.events import prepare as run

    layout = _layout(preset, event_map or [], column_map or [])
    try:
        opts = PrepareOptions(window_days, lookback_days, session_gap_minutes, attribution_hours, batch_rows)
    except ValueError as exc:
        name, _, rule = str(exc).partition(": ")
        raise fail(f"--{name.replace('_', '-')}: {rule}") from None
    try:
        with _progress() as report:
            summary = run(events, exposures, out, layout, opts, progress=report)
    except EventsError as exc:
        option = "--exposures" if exc.file in (exposures.name, str(exposures)) else "--events"
        raise fail(f"{option}: {exc}") from None
    typer.echo(
        f"prepared {summary.users:,} users ({summary.users_without_events:,} without events) from "
        f"{summary.events_read:,} events ({summary.events_kept:,} in the windows) in {summary.seconds:.2f} s "
        f"({summary.events_per_s:,.0f} events/s); wrote {out}"
    )
    typer.echo(_next_step(out, summary))


def generate_events(out: Path, users: int, seed: int, treatment_share: float) -> None:
    """`uplift generate --events`: the clickstream to OUT, exposures and truth beside it."""
    from shared.events.synthetic import ClickstreamConfig, generate_clickstream, write_clickstream

    if not out.name.endswith((".parquet", ".csv")):
        raise fail(f"--out: with --events must be a .parquet or .csv file, got {out.name!r}")
    stream = generate_clickstream(ClickstreamConfig(users=users, seed=seed, treatment_share=treatment_share))
    exposures, truth = write_clickstream(stream, out)
    info = stream.describe()
    typer.echo(
        f"wrote {info['events']:,} events of {users:,} users to {out}, exposures to {exposures}, truth to "
        f"{truth} (seed {seed}; planted average effect on purchased {info['ate_true']:.4f})"
    )


def register(app: typer.Typer) -> None:
    app.command()(prepare)
