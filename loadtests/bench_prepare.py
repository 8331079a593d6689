"""`uplift prepare` benchmark: raw events → experiment table, wall time, events/s and peak memory.

Writes a synthetic clickstream (shared.events.synthetic) of 10M events of 400k users (and, with
--thirty-million, 30M events of the same 400k users: memory is bounded by users, so it must stay
flat) to Parquet in chunks, then runs `uplift prepare` on it as a child process and reads the
child's peak RSS from ``os.wait4``. Linux carries the parent's peak RSS over into a child's
``ru_maxrss`` at exec, so the data is written by another child process and this one imports no
pandas: the parent stays at a few tens of MB (recorded as ``parent_rss_mb``), below any figure here.
Targets: 10M events in <= 60 s and <= 3 GB peak; peak RSS flat from 10M to 30M (within 1.25x).

    uv run python loadtests/bench_prepare.py                    # 10M events
    uv run python loadtests/bench_prepare.py --thirty-million   # 10M and 30M events
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGETS = {"seconds_10m": 60.0, "peak_rss_gb_10m": 3.0, "rss_growth_30m_vs_10m": 1.25}
USERS_PER_CHUNK = 100_000
# Ids of chunk k start at k * ID_STRIDE so chunks with their own seeds never share a user.
ID_STRIDE = 100_000_000


def write_clickstream(folder: Path, events: int, users: int, seed: int) -> tuple[Path, Path, int]:
    """Events (Parquet, appended chunk by chunk, cut at ``events``) and exposures of ``users`` users."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from shared.events.synthetic import TIMELINE_DAYS, ClickstreamConfig, generate_clickstream

    # The generator's mean rate is per user and day over its whole timeline; 15% spare, then cut.
    rate = 1.15 * events / (users * TIMELINE_DAYS)
    events_path, exposures_path = folder / "events.parquet", folder / "exposures.parquet"
    writer = None
    exposures, written = [], 0
    try:
        for k in range(users // USERS_PER_CHUNK):
            config = ClickstreamConfig(users=USERS_PER_CHUNK, seed=seed + k, events_per_user_day=rate)
            stream = generate_clickstream(config)
            frame = stream.events.iloc[: events - written]
            frame = frame.assign(user_id=frame["user_id"] + k * ID_STRIDE)
            table = pa.Table.from_pandas(frame, preserve_index=False)
            writer = writer or pq.ParquetWriter(events_path, table.schema)
            writer.write_table(table, row_group_size=1_000_000)
            exposures.append(stream.exposures.assign(user_id=stream.exposures["user_id"] + k * ID_STRIDE))
            written += len(frame)
    finally:
        if writer is not None:
            writer.close()
    pd.concat(exposures).to_parquet(exposures_path, index=False)
    return events_path, exposures_path, written


def run_prepare(events: Path, exposures: Path, out: Path) -> dict[str, Any]:
    """One `uplift prepare` child: wall seconds and its own peak RSS (ru_maxrss is KiB on Linux)."""
    cmd = [sys.executable, "-m", "services.cli", "prepare", "--events", str(events)]
    cmd += ["--exposures", str(exposures), "--out", str(out)]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    output = proc.stdout.read() if proc.stdout else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"uplift prepare failed ({proc.returncode}): {output}")
    return {
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "summary": output.splitlines()[0],
        "table_rows": int(output.split("prepared ")[1].split(" users")[0].replace(",", "")),
        "parent_rss_mb": round(_own_rss_kib() / 1024, 1),
    }


def _own_rss_kib() -> int:
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0])


def _write_in_child(folder: Path, events: int, users: int, seed: int) -> int:
    cmd = [sys.executable, __file__, "--generate-into", str(folder), "--events", str(events)]
    run = subprocess.run([*cmd, "--users", str(users), "--seed", str(seed)], check=True, capture_output=True)
    return int(json.loads(run.stdout)["written"])


def measure(events: int, users: int, seed: int, folder: Path) -> dict[str, Any]:
    started = time.perf_counter()
    written = _write_in_child(folder, events, users, seed)
    ev, ex = folder / "events.parquet", folder / "exposures.parquet"
    generated = time.perf_counter() - started
    print(
        f"wrote {written:,} events of {users:,} users in {generated:.1f} s; running uplift prepare ...",
        flush=True,
    )
    result = run_prepare(ev, ex, folder / "table.parquet")
    result |= {"events": written, "users": users, "events_per_s": round(written / result["wall_s"])}
    print(
        f"{written:,} events → {result['table_rows']:,} rows in {result['wall_s']:.2f} s "
        f"({result['events_per_s']:,} events/s), peak RSS {result['peak_rss_mb']:,.0f} MB",
        flush=True,
    )
    for path in (ev, ex, folder / "table.parquet"):
        path.unlink()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000, help="Events of the main run.")
    parser.add_argument(
        "--thirty-million", action="store_true", help="Also run 30M events (memory flatness)."
    )
    parser.add_argument("--users", type=int, default=400_000, help="Users (both runs; a multiple of 100k).")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "prepare.json")
    parser.add_argument("--generate-into", type=Path, help=argparse.SUPPRESS)  # the data-writing child
    args = parser.parse_args()
    if args.generate_into is not None:
        written = write_clickstream(args.generate_into, args.events, args.users, args.seed)[2]
        print(json.dumps({"written": written}))
        return
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as tmp:
        for events in (args.events, *([30_000_000] if args.thirty_million else [])):
            runs.append(measure(events, args.users, args.seed, Path(tmp)))
    main_run = runs[0]
    checks: dict[str, Any] = {
        "seconds_10m": main_run["wall_s"] <= TARGETS["seconds_10m"],
        "peak_rss_gb_10m": main_run["peak_rss_mb"] / 1024 <= TARGETS["peak_rss_gb_10m"],
    }
    if len(runs) > 1:
        growth = runs[1]["peak_rss_mb"] / main_run["peak_rss_mb"]
        checks["rss_growth_30m_vs_10m"] = growth <= TARGETS["rss_growth_30m_vs_10m"]
        checks["rss_growth"] = round(growth, 3)
    report = {
        "benchmark": "uplift prepare (events → one row per exposed user)",
        "command": "python loadtests/bench_prepare.py" + (" --thirty-million" if args.thirty_million else ""),
        "seed": args.seed,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "targets": TARGETS,
        "runs": runs,
        "checks": checks,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(checks), f"→ {args.out}")


if __name__ == "__main__":
    main()
