"""The decision report: outcomes, SRM refusal and override, degenerate input, JSON without NaN."""

import json

import numpy as np
import pytest

from shared.stats import ContinuousVariant, ConversionVariant, analyze, analyze_rows, two_proportion_ztest


def _dumps(report):
    return json.dumps(report.to_dict(), allow_nan=False)  # raises on any NaN or infinity


def test_clear_winner_is_shipped_with_the_numbers_that_justify_it():
    vs = [ConversionVariant("A", 10_000, 1000), ConversionVariant("B", 10_000, 1150)]
    r = analyze(vs, alpha=0.05, seed=3, metric="conversion")
    assert r.decision.outcome == "ship" and r.decision.winner == "B"
    ref = two_proportion_ztest(*vs)
    assert r.frequentist[0].p_value == pytest.approx(ref.p_value)
    assert f"{ref.p_value_holm:.3g}" in r.decision.reason
    assert r.bayesian.lifts[0].prob_beats_control > 0.99
    d = json.loads(_dumps(r))
    assert d["seed"] == 3 and d["srm"]["ok"] and d["effects_withheld"] is False
    assert "**Decision: ship** — B" in r.to_markdown()


def test_worse_treatment_keeps_control_and_no_difference_keeps_running():
    worse = analyze([ConversionVariant("A", 10_000, 1150), ConversionVariant("B", 10_000, 1000)])
    assert worse.decision.outcome == "keep control" and worse.decision.winner == "A"
    same = analyze([ConversionVariant("A", 10_000, 1000), ConversionVariant("B", 10_000, 1010)])
    assert same.decision.outcome == "keep running"
    assert "detects a difference of" in same.decision.reason  # the MDE at the current sample size


def test_srm_failure_withholds_effects_unless_overridden():
    vs = [ConversionVariant("A", 10_000, 1000), ConversionVariant("B", 11_000, 1300)]
    r = analyze(vs)
    assert r.effects_withheld and r.decision.outcome == "withheld"
    assert r.frequentist is None and r.bayesian is None and r.sequential is None
    assert "sample ratio mismatch" in r.decision.reason and "override" in r.decision.reason
    assert "Withheld: sample ratio mismatch" in r.to_markdown()
    forced = analyze(vs, override_srm=True)
    assert not forced.effects_withheld and forced.frequentist is not None
    assert any("FAILED and was overridden" in c for c in forced.caveats)
    planned = analyze(vs, allocation={"A": 10, "B": 11})  # the plan explains the imbalance
    assert planned.srm.ok and not planned.effects_withheld


def test_all_zero_conversions_give_a_report_without_nan():
    r = analyze([ConversionVariant("A", 400, 0), ConversionVariant("B", 410, 0)])
    _dumps(r)
    assert r.decision.outcome == "keep running"
    assert any("zero in every variant" in c for c in r.caveats)
    assert not r.health[1].ok and "fewer than 5 conversions" in r.health[1].detail


@pytest.mark.parametrize(
    ("variants", "kwargs", "match"),
    [
        ([ConversionVariant("A", 10, 1)], {}, r"variants: need at least two"),
        ([ConversionVariant("A", 10, 1), ConversionVariant("B", 0, 0)], {}, r"B\.users: every variant needs"),
        (
            [ConversionVariant("A", 10, 1), ConversionVariant("B", 10, 1)],
            {"alpha": 0},
            r"alpha: must be strictly",
        ),
        ([ConversionVariant("A", 10, 1), ConversionVariant("B", 10, 1)], {"control": "X"}, r"control: 'X'"),
        (
            [ConversionVariant("A", 10, 1), ConversionVariant("B", 10, 1)],
            {"allocation": {"A": 1, "C": 1}},
            r"allocation: must name exactly",
        ),
    ],
)
def test_degenerate_input_is_refused_by_name(variants, kwargs, match):
    with pytest.raises(ValueError, match=match):
        analyze(variants, **kwargs)


def test_rows_with_pre_period_add_a_cuped_section_that_narrows_the_interval():
    rng = np.random.default_rng(9)
    n = 4000
    labels = np.where(rng.random(n) < 0.5, "control", "treat")
    pre = rng.gamma(2.0, 10.0, n)
    y = pre * 0.8 + rng.normal(0, 5, n) + np.where(labels == "treat", 1.0, 0.0)
    r = analyze_rows(labels, y, pre=pre, covariates=["history"], control="control", metric="spend")
    assert r.metric_type == "continuous" and r.cuped is not None
    assert r.cuped.variance_reduction > 0.8
    raw, adj = r.frequentist[0], r.cuped.comparisons[0]
    assert (adj.ci_difference[1] - adj.ci_difference[0]) < 0.5 * (raw.ci_difference[1] - raw.ci_difference[0])
    assert adj.ci_difference[0] < 1.0 < adj.ci_difference[1]  # covers the true effect
    assert "CUPED-adjusted metric" in r.decision.reason
    assert "## CUPED (history=" in r.to_markdown()


def test_rows_infer_binary_and_refuse_bad_values():
    r = analyze_rows(["a", "b"] * 50, [0, 1, 1, 1] * 25)
    assert r.metric_type == "binary" and [v.conversions for v in r.variants] == [25, 50]
    with pytest.raises(ValueError, match=r"value: a binary metric must be 0 or 1"):
        analyze_rows(["a", "b"], [0.5, 1.0], metric_type="binary")
    with pytest.raises(ValueError, match=r"value: must be a finite number in every row \(1 are not\)"):
        analyze_rows(["a", "b"], [np.nan, 1.0])
    with pytest.raises(ValueError, match=r"c\.users: the allocation plans this variant but no row has it"):
        analyze_rows(["a", "b"], [0, 1], allocation={"a": 1, "b": 1, "c": 1})


def test_continuous_summary_report_has_normal_posteriors():
    vs = [ContinuousVariant("A", 1000, 5200.0, 91_000.0), ContinuousVariant("B", 1000, 5600.0, 96_000.0)]
    r = analyze(vs)
    assert r.bayesian.model.startswith("Normal")
    assert r.frequentist[0].test == "Welch t-test"
    _dumps(r)
