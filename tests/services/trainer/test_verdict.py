import numpy as np

from services.trainer.verdict import arm_verdict, compare_models, overall_verdict


def _case(effect_signal: float, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    n = 20_000
    x = rng.normal(size=n)
    t = rng.integers(0, 2, n)
    tau = effect_signal * (x > 0)
    y = (rng.random(n) < 0.2 + t * tau).astype(float)
    scores = {
        "chosen": x,  # orders users by the true effect when there is one
        "t_learner": x + rng.normal(size=n),
        "response_model": rng.normal(size=n),
        "placebo": rng.normal(size=n),
    }
    return compare_models(y, t, scores, 100, seed)


def test_signal_when_the_effect_is_real() -> None:
    v = arm_verdict(_case(0.15))
    assert v["signal"] and v["beats_response_model"] and v["notes"] == []


def test_no_signal_on_a_placebo_and_the_message_says_so() -> None:
    verdicts = {"1": arm_verdict(_case(0.0, seed=3))}
    overall = overall_verdict(verdicts)
    assert not overall["signal"] and overall["weak_arms"] == ["1"]
    assert "NO RELIABLE SIGNAL" in overall["message"]
