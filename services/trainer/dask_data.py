"""Experiment logs as Dask dataframes: connect to the cluster, read, draw the split, validate on the workers.

The held-out split is the single-machine one row for row: ``split_mask`` draws one uniform double per
row from PCG64(seed + 1), and each partition advances that generator to its first row, so a file
trained with and without ``--dask-scheduler`` holds out the same users.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from services.trainer.validate import (
    DataError,
    Limits,
    OutcomeKindArg,
    SrmResult,
    ValidationReport,
    outcome_values,
    resolve_control,
    srm_check,
)

if TYPE_CHECKING:
    import dask.dataframe as dd
    from distributed import Client

LOCAL = "local"
CONNECT_TIMEOUT_S = 10
PROBE_TIMEOUT_S = 5
LOCAL_WORKERS = 2
TEST = "__test"


class ClusterError(RuntimeError):
    """The scheduler cannot be used; the message names --dask-scheduler and what went wrong."""


def connect(address: str) -> Client:
    """A client of the scheduler at ``address`` (tcp://host:port), or of a new 2-worker LocalCluster."""
    import dask
    from distributed import Client, LocalCluster

    if address == LOCAL:
        cluster = LocalCluster(
            n_workers=LOCAL_WORKERS, threads_per_worker=1, processes=True, dashboard_address=None
        )
        return Client(cluster)
    _probe(address)
    # A wrong address must fail within the timeout, not after distributed's default retries.
    with dask.config.set({"distributed.comm.timeouts.connect": f"{CONNECT_TIMEOUT_S}s"}):
        try:
            return Client(address, timeout=f"{CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ClusterError(
                f"--dask-scheduler: cannot reach a Dask scheduler at {address!r} within "
                f"{CONNECT_TIMEOUT_S} s ({reason}); give tcp://host:port of a running scheduler or 'local'"
            ) from exc


def _probe(address: str) -> None:
    """Refused or unroutable addresses fail at once: distributed itself retries until its timeout."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if parts.scheme not in ("tcp", "tls") or not host or port is None:
        raise ClusterError(f"--dask-scheduler: must be tcp://host:port or 'local', got {address!r}")
    try:
        with socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S):
            return
    except OSError as exc:
        raise ClusterError(
            f"--dask-scheduler: cannot reach a Dask scheduler at {address!r} ({exc.strerror or exc}); "
            "give tcp://host:port of a running scheduler or 'local'"
        ) from exc


def describe_cluster(client: Client) -> dict[str, Any]:
    info = client.scheduler_info()
    workers = info.get("workers", {})
    return {
        "scheduler": info.get("address"),
        "workers": len(workers),
        "threads": int(sum(w.get("nthreads", 0) for w in workers.values())),
    }


def read_dask(
    path: str, columns: Sequence[str] | None = None, *, per_row_group: bool = False
) -> dd.DataFrame:
    """A Parquet file, folder or glob, or CSV file(s) (a .csv.gz file is one partition: gzip cannot be split).

    ``per_row_group`` makes every Parquet row group a partition: Dask otherwise reads a single file as
    one partition (measured: a 10M-row file is 1 partition), which a one-process pass must hold whole."""
    import dask.dataframe as dd

    text = str(path)
    lower = text.lower()
    cols = list(columns) if columns is not None else None
    if "*" not in text and not Path(text).exists():
        raise DataError("--data", f"{text} does not exist")
    if Path(text).is_dir() or lower.endswith((".parquet", ".pq")):
        return dd.read_parquet(text, columns=cols, split_row_groups=True if per_row_group else "infer")
    if lower.endswith(".csv"):
        return dd.read_csv(text, usecols=cols, blocksize="64MB")
    if lower.endswith(".csv.gz"):
        return dd.read_csv(text, usecols=cols, compression="gzip", blocksize=None)
    raise DataError(
        "--data", f"must be a .parquet file, a folder or glob of them, or .csv/.csv.gz; got {text}"
    )


def _split_part(part: pd.DataFrame, offset: int, fraction: float, seed: int) -> pd.DataFrame:
    generator = np.random.PCG64(seed + 1)
    # split_mask draws one 64-bit output per row: jump to this partition's first row.
    generator.advance(offset)
    test = np.random.Generator(generator).random(len(part)) < fraction
    return part.assign(**{TEST: test})


def with_split(frame: dd.DataFrame, test_fraction: float, seed: int) -> tuple[dd.DataFrame, np.ndarray]:
    """The frame with a boolean TEST column equal to ``split_mask`` over the whole file, and partition sizes."""
    import dask.dataframe as dd

    sizes = np.asarray(frame.map_partitions(len).compute(), dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    parts = frame.to_delayed()
    from dask import delayed

    meta = frame._meta.assign(**{TEST: np.zeros(0, dtype=bool)})
    split = [
        delayed(_split_part)(p, int(o), test_fraction, seed) for p, o in zip(parts, offsets, strict=True)
    ]
    return dd.from_delayed(split, meta=meta, verify_meta=False), sizes


class RemoteDataError(DataError):
    """A DataError raised on a worker: pickled by column and rule so the client re-raises it intact."""

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return (RemoteDataError, (self.column, self.rule))


def _part_summary(part: pd.DataFrame, treatment: str, outcome: str, kind: OutcomeKindArg) -> pd.DataFrame:
    """Row rules checked where the rows are (errors name the column), and per-arm counts to add up."""
    try:
        return _summarize(part, treatment, outcome, kind)
    except DataError as exc:
        raise RemoteDataError(exc.column, exc.rule) from None


def _summarize(part: pd.DataFrame, treatment: str, outcome: str, kind: OutcomeKindArg) -> pd.DataFrame:
    missing = int(part[treatment].isna().sum())
    if missing:
        raise DataError(treatment, f"treatment has {missing} missing value(s); every row needs its arm")
    if part.empty:
        return pd.DataFrame({"arm": [], "rows": [], "positives": [], "binary": []})
    y, _ = outcome_values(part[outcome], kind)
    grouped = pd.DataFrame({"arm": part[treatment].to_numpy(), "pos": y != 0}).groupby("arm", sort=False)
    out = grouped["pos"].agg(["size", "sum"]).reset_index()
    return pd.DataFrame(
        {
            "arm": out["arm"],
            "rows": out["size"].astype(np.int64),
            "positives": out["sum"].astype(np.int64),
            "binary": bool(np.isin(y, (0.0, 1.0)).all()),
        }
    )


def validate_dask(
    frame: dd.DataFrame,
    *,
    treatment: str,
    outcome: str,
    features: Sequence[str],
    control: str | None,
    id_column: str | None,
    outcome_kind: OutcomeKindArg,
    expected_split: Mapping[str, float] | None,
    limits: Limits,
) -> tuple[ValidationReport, Any]:
    """The checks of ``validate_frame`` over every partition; returns the report and the control arm."""
    from dask import delayed

    parts = [delayed(_part_summary)(p, treatment, outcome, outcome_kind) for p in frame.to_delayed()]
    summary = pd.concat(_compute_all(parts), ignore_index=True)
    counts = summary.groupby("arm", sort=False)[["rows", "positives"]].sum()
    labels = sorted(counts.index.tolist(), key=str)
    if len(labels) < 2:
        raise DataError(
            treatment, f"treatment must have at least two values (control and a treatment), got only {labels}"
        )
    chosen = resolve_control(pd.Series(labels, name=treatment), control)
    arms = [chosen, *[a for a in labels if a != chosen]]
    is_binary = bool(summary["binary"].all())
    kind = (
        "continuous"
        if outcome_kind == "continuous" or (outcome_kind == "auto" and not is_binary)
        else "binary"
    )
    rows = np.array([int(counts.loc[a, "rows"]) for a in arms])
    pos = np.array([int(counts.loc[a, "positives"]) for a in arms])
    check_arm_counts(rows, pos, arms, treatment, outcome, kind, limits)
    non_missing = frame[list(features)].count().compute()
    for name in features:
        if int(non_missing[name]) == 0:
            raise DataError(name, "feature has only missing values (all NaN); exclude it or fill it")
    if id_column is not None:
        distinct = int(frame[id_column].nunique(dropna=False).compute())
        if distinct != int(rows.sum()):
            raise DataError(
                id_column,
                f"ID column has {int(rows.sum()) - distinct} duplicated value(s); each row must be one unit of the experiment",
            )
    srm = srm_from_counts(rows, arms, expected_split, limits.srm_alpha)
    warnings = [srm.message()] if srm.mismatch else []
    report = ValidationReport(outcome_kind=kind, arms=arms, srm=srm, warnings=warnings)  # type: ignore[arg-type]
    return report, chosen


def check_arm_counts(
    rows: np.ndarray,
    positives: np.ndarray,
    arms: Sequence[Any],
    treatment: str,
    outcome: str,
    kind: str,
    limits: Limits,
) -> None:
    """``check_arm_sizes``'s rules and messages on per-arm totals: no array of one code per row (such
    stand-ins grow with the rows, ~110 MB at 10M rows)."""
    what = "conversions (outcome = 1)" if kind == "binary" else "non-zero outcomes"
    for n, p, arm in zip(rows.tolist(), positives.tolist(), arms, strict=True):
        if n < limits.min_rows_per_arm:
            raise DataError(
                treatment, f"arm {arm!s} has {n} rows; each arm needs at least {limits.min_rows_per_arm}"
            )
        if p < limits.min_positives_per_arm:
            raise DataError(
                outcome, f"arm {arm!s} has {p} {what}; each arm needs at least {limits.min_positives_per_arm}"
            )


def srm_from_counts(
    rows: np.ndarray, arms: Sequence[Any], expected: Mapping[str, float] | None, alpha: float
) -> SrmResult:
    """``srm_check``'s chi-square on per-arm totals (it takes one label per row, which grows with the rows)."""
    labels = [str(a) for a in arms]
    # srm_check's own validation of --expected-split, on one row per arm (counts do not enter it).
    srm_check(np.asarray(arms, dtype=object), arms, expected, alpha)
    share = (
        {lab: 1.0 / len(labels) for lab in labels}
        if expected is None
        else {lab: float(expected[lab]) / sum(expected.values()) for lab in labels}
    )
    counts = rows.astype(np.float64)
    chi2, p = stats.chisquare(counts, np.array([share[lab] for lab in labels]) * counts.sum())
    return SrmResult(
        dict(zip(labels, rows.astype(int).tolist(), strict=True)), share, float(chi2), float(p), alpha
    )


def _compute_all(parts: list[Any]) -> list[pd.DataFrame]:
    import dask

    return list(dask.compute(*parts))
