"""Validation of the counts and sums: every degenerate input is refused with the field and the rule."""

import numpy as np
import pytest

from shared.stats import ContinuousVariant, ConversionVariant, check_variants


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("A", -1, 0), r"A\.users: must be >= 0"),
        (("A", 10, -1), r"A\.conversions: must be >= 0"),
        (("A", 10, 11), r"A\.conversions: must not exceed users \(11 > 10\)"),
        (("A", 10.5, 1), r"A\.users: must be an integer"),
        (("", 10, 1), r"name: must be a non-empty string"),
    ],
)
def test_conversion_variant_refuses_bad_counts(args, match):
    with pytest.raises(ValueError, match=match):
        ConversionVariant(*args)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("B", 10, float("nan"), 1.0), r"B\.sum: must be a finite number"),
        (("B", 10, 1.0, -1.0), r"B\.sum_squares: must be >= 0"),
        (("B", 2, 10.0, 1.0), r"B\.sum_squares: inconsistent"),
        (("B", 0, 1.0, 1.0), r"B\.sum: must be 0 when users is 0"),
    ],
)
def test_continuous_variant_refuses_bad_sums(args, match):
    with pytest.raises(ValueError, match=match):
        ContinuousVariant(*args)


def test_continuous_moments_match_numpy():
    x = np.random.default_rng(3).gamma(2.0, 3.0, size=257)
    v = ContinuousVariant.from_values("A", x)
    assert v.users == 257
    assert v.mean == pytest.approx(x.mean(), rel=1e-12)
    assert v.variance == pytest.approx(x.var(ddof=1), rel=1e-9)


def test_conversion_moments():
    v = ConversionVariant("A", 200, 50)
    assert v.mean == 0.25 and v.variance == pytest.approx(0.1875)


def test_check_variants_rules():
    a, b = ConversionVariant("A", 10, 1), ConversionVariant("B", 10, 2)
    assert check_variants([a, b]) == "A"
    assert check_variants([a, b], "B") == "B"
    with pytest.raises(ValueError, match=r"variants: need at least two"):
        check_variants([a])
    with pytest.raises(ValueError, match=r"Z\.users: every variant needs at least one user"):
        check_variants([a, ConversionVariant("Z", 0, 0)])
    with pytest.raises(ValueError, match=r"control: 'C' is not one of"):
        check_variants([a, b], "C")
    with pytest.raises(ValueError, match=r"names must be unique"):
        check_variants([a, ConversionVariant("A", 5, 1)])
    with pytest.raises(ValueError, match=r"same metric type"):
        check_variants([a, ContinuousVariant("C", 3, 1.0, 1.0)])
