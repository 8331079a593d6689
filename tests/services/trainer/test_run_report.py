"""The manifest's headline numbers and learner summary, read from an evaluation report."""

from __future__ import annotations

from services.trainer.run_report import headline, learner_summary


def test_headline_keeps_the_first_numbers_and_drops_the_detail() -> None:
    metrics = {
        "arms": {"1": {"qini": 0.02, "qini_placebo": 0.001, "uplift_at_10pct": 0.05, "compare": {"big": 1}}},
        "segments": {"vs_truth": {"recall": {"Sleeping Dog": 0.9}, "precision": {"Persuadable": 0.8}}},
        "ranker": {"ndcg10_model": 0.67, "ndcg10_popularity": 0.61},
    }
    out = headline(metrics)
    assert out["1"] == {"qini": 0.02, "qini_placebo": 0.001, "uplift_at_10pct": 0.05}
    assert out["sleeping_dog_recall"] == 0.9 and out["persuadable_precision"] == 0.8
    assert (out["ranker_ndcg10"], out["popularity_ndcg10"]) == (0.67, 0.61)


def test_headline_without_truth_or_ranker_has_no_such_keys() -> None:
    out = headline({"arms": {"b": {"qini": -0.01}}, "segments": {}})
    assert out == {"b": {"qini": -0.01}}


def test_learner_summary_tables_every_candidate_and_ensemble() -> None:
    report = {
        "chosen": "r+t",
        "requested": "auto",
        "criterion": "qini",
        "candidates": [{"learner": "t", "qini": 0.01, "qini_sd": 0.002, "per_arm": {"x": 1}}],
        "ensembles": [{"learner": "r+t", "qini": 0.012, "qini_sd": 0.002}],
        "arms": {"detail": "left in evaluation.json"},
    }
    out = learner_summary(report)
    assert out["chosen"] == "r+t" and out["criterion"] == "qini" and "arms" not in out
    assert [c["learner"] for c in out["candidates"]] == ["t", "r+t"]
    assert "per_arm" not in out["candidates"][0] and out["candidates"][1]["qini"] == 0.012
