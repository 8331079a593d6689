"""Encoded training rows on disk, read back batch by batch: the input of the external-memory fits.

One pass over the user's file writes the encoded features (float32, row-major), the arm index and the
outcome into flat binary files; every later pass (each booster's quantile sketch, its pages, the
cross-fitted predictions) reads them back in fixed batches with ordinary reads, never a memory map, so
what a pass keeps in memory is one batch, whatever the number of rows. Per-row uniform draws (the
early-stopping validation rows, the cross-fitting folds) are not stored: they are drawn again from
counter-positioned PCG64 streams, so row i always gets the same draw.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

STREAM_VALID = 31
STREAM_FOLD = 37


def draws(seed: int, stream: int, start: int, n: int) -> np.ndarray:
    """Uniform [0, 1) draws of rows start..start+n of one seeded stream (one 64-bit output per row)."""
    generator = np.random.PCG64([seed, stream])
    generator.advance(start)
    return np.random.Generator(generator).random(n)


@dataclass
class Batch:
    start: int
    X: np.ndarray
    arm: np.ndarray
    y: np.ndarray
    seed: int
    # Out-of-fold outcome predictions per arm once written (DR-learner), else None.
    mu: np.ndarray | None = None

    def u_valid(self) -> np.ndarray:
        return draws(self.seed, STREAM_VALID, self.start, len(self.y))

    def fold(self, n_folds: int) -> np.ndarray:
        return np.minimum(
            (draws(self.seed, STREAM_FOLD, self.start, len(self.y)) * n_folds).astype(np.int64), n_folds - 1
        )


class RowCache:
    """Append-only files X.f32, arm.i8, y.f64 in ``folder``; ``n_features`` columns per row."""

    def __init__(self, folder: Path, n_features: int, n_arms: int, seed: int, batch_rows: int) -> None:
        if batch_rows < 1:
            raise ValueError(f"batch_rows: must be positive, got {batch_rows}")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.n_features = n_features
        self.seed = seed
        self.batch_rows = batch_rows
        self.rows = 0
        self.n_arms = n_arms
        self._out: dict[str, BinaryIO] | None = None

    def _path(self, name: str) -> Path:
        return self.folder / name

    def append(self, X: np.ndarray, arm: np.ndarray, y: np.ndarray) -> None:
        if X.shape != (len(arm), self.n_features) or len(y) != len(arm):
            raise ValueError(f"X, arm, y: need ({len(arm)}, {self.n_features}), {len(arm)}, {len(arm)} rows")
        if self._out is None:
            self._out = {n: open(self._path(n), "wb") for n in ("X.f32", "arm.i8", "y.f64")}  # noqa: SIM115
        self._out["X.f32"].write(np.ascontiguousarray(X, dtype=np.float32).tobytes())
        self._out["arm.i8"].write(np.asarray(arm, dtype=np.int8).tobytes())
        self._out["y.f64"].write(np.asarray(y, dtype=np.float64).tobytes())
        self.rows += len(arm)

    def close(self) -> None:
        if self._out is not None:
            for f in self._out.values():
                f.close()
            self._out = None

    def write_mu(self, mu: np.ndarray, start: int) -> None:
        """Out-of-fold outcome predictions (rows, arms) for rows start.. (written in order)."""
        mode = "r+b" if self._path("mu.f64").exists() else "wb"
        with open(self._path("mu.f64"), mode) as f:
            f.seek(start * mu.shape[1] * 8)
            f.write(np.ascontiguousarray(mu, dtype=np.float64).tobytes())

    def batches(self, with_mu: bool = False) -> Iterator[Batch]:
        d = self.n_features
        files = {n: open(self._path(n), "rb") for n in ("X.f32", "arm.i8", "y.f64")}  # noqa: SIM115
        mu_file = open(self._path("mu.f64"), "rb") if with_mu else None  # noqa: SIM115
        try:
            for start in range(0, self.rows, self.batch_rows):
                n = min(self.batch_rows, self.rows - start)
                X = np.fromfile(files["X.f32"], dtype=np.float32, count=n * d).reshape(n, d)
                arm = np.fromfile(files["arm.i8"], dtype=np.int8, count=n)
                y = np.fromfile(files["y.f64"], dtype=np.float64, count=n)
                mu = None
                if mu_file is not None:
                    mu = np.fromfile(mu_file, dtype=np.float64, count=n * self.n_arms).reshape(n, self.n_arms)
                yield Batch(start, X, arm, y, self.seed, mu)
        finally:
            for f in files.values():
                f.close()
            if mu_file is not None:
                mu_file.close()
