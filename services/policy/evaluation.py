"""Reading an exported log for `uplift evaluate-policy`; the estimates are shared.ope.policies'."""

from __future__ import annotations

from pathlib import Path

from shared.ope.policies import LoggedData, PolicyReport, evaluate_log, logged_from_frame, model_outcomes

__all__ = ["LoggedData", "PolicyReport", "evaluate_log", "load_log", "model_outcomes"]


def load_log(path: Path, control: str) -> LoggedData:
    """The export's rows that have a reward; ``control`` must be one of the logged arms."""
    import pandas as pd

    return logged_from_frame(pd.read_parquet(path), control, str(path))
