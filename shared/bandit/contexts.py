"""The bandit store's context of an assignment: the user's segment under one model version.

Feedback's residual is the reward minus the outcome the serving model predicted, so a residual
says how far *that* model sits from what happens. Residuals against another version's predictions
would mislead the calibration of this one: after a retrain from a log that already corrected a
group the old model over-rated, the old residuals would push the new model's effects down a second
time. So counts and residuals are kept per (model version, segment): a reload to a new version
starts its calibration from the prior, rewards for the old version's assignments still land (on the
old version's contexts), and a restart serving the same version keeps everything it learned.
"""

from __future__ import annotations

SEPARATOR = "@"


def context_key(segment: str, version: str) -> str:
    """The context assignments of ``version`` in ``segment`` are counted under."""
    return f"{segment}{SEPARATOR}{version}"


def segment_of(context: str) -> str:
    """The segment part of a context (a context stored without a version is a segment already)."""
    return context.partition(SEPARATOR)[0]
