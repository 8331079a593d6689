"""How well predicted segments match the true ones: confusion matrix, precision, recall."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SegmentReport", "segment_report"]


@dataclass(frozen=True)
class SegmentReport:
    labels: tuple[str, ...]
    confusion: np.ndarray  # rows: true label, columns: predicted label
    precision: dict[str, float | None]
    recall: dict[str, float | None]
    support: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "confusion": self.confusion.tolist(),
            "precision": self.precision,
            "recall": self.recall,
            "support": self.support,
        }


def segment_report(true_segments: Any, pred_segments: Any, labels: Sequence[str]) -> SegmentReport:
    """Precision/recall per label; None where a label was never predicted (or never true)."""
    t = np.asarray(true_segments, dtype=object)
    p = np.asarray(pred_segments, dtype=object)
    if t.ndim != 1 or t.shape != p.shape:
        raise ValueError("true_segments, pred_segments: must be 1-D and the same length")
    labs = tuple(labels)
    unknown = (set(t.tolist()) | set(p.tolist())) - set(labs)
    if unknown:
        raise ValueError(f"segments: unknown label(s) {sorted(unknown)}; expected {list(labs)}")
    index = {lab: i for i, lab in enumerate(labs)}
    ti = np.array([index[v] for v in t], dtype=np.int64)
    pi = np.array([index[v] for v in p], dtype=np.int64)
    m = np.bincount(ti * len(labs) + pi, minlength=len(labs) ** 2).reshape(len(labs), len(labs))
    col, row = m.sum(axis=0), m.sum(axis=1)
    precision = {lab: (float(m[i, i] / col[i]) if col[i] else None) for i, lab in enumerate(labs)}
    recall = {lab: (float(m[i, i] / row[i]) if row[i] else None) for i, lab in enumerate(labs)}
    return SegmentReport(labs, m, precision, recall, {lab: int(row[i]) for i, lab in enumerate(labs)})
