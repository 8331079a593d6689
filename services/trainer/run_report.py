"""What a training run reports about itself beside the scores: which learner and why (evaluation.json's
"learner", the manifest's summary of it) and the manifest's headline numbers."""

from __future__ import annotations

from typing import Any

from services.trainer.learning import Learned
from services.trainer.settings import TrainerSettings


def learner_report(learned: Learned, settings: TrainerSettings) -> dict[str, Any]:
    """What was chosen and why: every candidate's out-of-fold score (the manifest and GET /model show it)."""
    out: dict[str, Any] = {"requested": settings.learner}
    if learned.selection is None:
        out["reason"] = f"forced with --learner {settings.learner}; no selection was run"
    else:
        out |= learned.selection.to_dict()
    out["chosen"] = learned.served.name
    out["members"] = learned.served.codes
    out["effect_samples"] = {
        "members": settings.effect_members,
        "method": "half-sample ensemble of DR-learner final stages, spread scaled by 1/sqrt(2), "
        "centred on the served effect (shared.estimators.uncertainty)",
    }
    return out


def learner_summary(report: dict[str, Any]) -> dict[str, Any]:
    """The choice and each candidate's out-of-fold score, without the per-arm detail of evaluation.json."""
    keep = ("learner", "qini", "qini_sd", "qini_minus_t", "qini_minus_t_sd", "dr_risk", "error")
    table = [
        {k: c.get(k) for k in keep} for c in [*report.get("candidates", []), *report.get("ensembles", [])]
    ]
    head = (
        "chosen",
        "requested",
        "reason",
        "criterion",
        "folds",
        "rows",
        "seed",
        "effect_samples",
        "calibration",
    )
    return {k: report[k] for k in head if k in report} | {"candidates": table}


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The few numbers worth reading first (full detail stays in evaluation.json)."""
    out: dict[str, Any] = {}
    for arm, res in metrics["arms"].items():
        keys = (
            "qini",
            "qini_oracle",
            "qini_vs_oracle",
            "qini_placebo",
            "pearson_cate_truth",
            "uplift_at_10pct",
        )
        out[arm] = {k: res[k] for k in keys if k in res}
    vs = metrics["segments"].get("vs_truth")
    if vs:
        out["sleeping_dog_recall"] = vs["recall"].get("Sleeping Dog")
        out["persuadable_precision"] = vs["precision"].get("Persuadable")
    if "ranker" in metrics:
        out["ranker_ndcg10"] = metrics["ranker"]["ndcg10_model"]
        out["popularity_ndcg10"] = metrics["ranker"]["ndcg10_popularity"]
    return out
