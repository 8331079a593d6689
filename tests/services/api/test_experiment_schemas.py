"""The API's experiment response models mirror shared.stats' result dataclasses field for field.

They are written out (not derived) so that the API does not import scipy.stats at start-up; this
test catches a field added to, or dropped from, either side.
"""

from __future__ import annotations

from dataclasses import fields

import pytest
from pydantic import BaseModel

from services.api import experiment_schemas as api
from shared.stats import bayesian, frequentist, report, sequential, srm

PAIRS = [
    (api.VariantOut, report.VariantSummary),
    (api.SrmOut, srm.SrmResult),
    (api.HealthOut, report.HealthCheck),
    (api.ComparisonOut, frequentist.Comparison),
    (api.PosteriorOut, bayesian.VariantPosterior),
    (api.IntervalOut, bayesian.Interval),
    (api.LiftOut, bayesian.BayesianLift),
    (api.BayesianOut, bayesian.BayesianResult),
    (api.CupedOut, report.CupedSection),
    (api.SequentialTestOut, sequential.SequentialResult),
    (api.SequentialOut, report.SequentialSection),
    (api.DecisionOut, report.Decision),
]


@pytest.mark.parametrize(("model", "result"), PAIRS, ids=[m.__name__ for m, _ in PAIRS])
def test_response_model_mirrors_result(model: type[BaseModel], result: type) -> None:
    assert list(model.model_fields) == [f.name for f in fields(result)]


def test_report_mirrors_decision_report() -> None:
    # The answer adds the optional funnel and daily sections and the Markdown rendering to the report's fields.
    assert list(api.AnalyzeResponse.model_fields) == [f.name for f in fields(report.DecisionReport)] + [
        "funnel",
        "daily",
        "markdown",
    ]
