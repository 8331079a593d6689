"""Evaluation metrics: pure functions that validate their input. One definition serves the trainer's
report, the API's answers and the dashboard's plots."""

from shared.metrics.ranking import ndcg_at_k
from shared.metrics.segments import SegmentReport, segment_report
from shared.metrics.uplift import auuc, qini_auc, qini_curve, uplift_at_k, uplift_by_decile, uplift_curve

__all__ = [
    "SegmentReport",
    "auuc",
    "ndcg_at_k",
    "qini_auc",
    "qini_curve",
    "segment_report",
    "uplift_at_k",
    "uplift_by_decile",
    "uplift_curve",
]
