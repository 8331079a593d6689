import pytest
from pydantic import ValidationError

from services.dashboard.settings import DashboardSettings


def test_defaults_and_environment(monkeypatch):
    for var in ("UPLIFT_API_URL", "UPLIFT_API_KEY", "UPLIFT_DASHBOARD_PORT", "UPLIFT_REQUEST_TIMEOUT"):
        monkeypatch.delenv(var, raising=False)
    s = DashboardSettings()
    assert (s.api_url, s.api_key, s.dashboard_port, s.request_timeout) == (
        "http://127.0.0.1:8000",
        None,
        8501,
        10.0,
    )
    assert s.headers() == {}
    monkeypatch.setenv("UPLIFT_API_URL", "https://api.example:9000/")
    monkeypatch.setenv("UPLIFT_API_KEY", "k3y")
    monkeypatch.setenv("UPLIFT_DASHBOARD_PORT", "7860")
    s = DashboardSettings()
    assert s.api_url == "https://api.example:9000" and s.dashboard_port == 7860
    assert s.headers() == {"X-API-Key": "k3y"} and "k3y" not in repr(s)


@pytest.mark.parametrize(
    ("var", "value", "field", "rule"),
    [
        ("UPLIFT_API_URL", "127.0.0.1:8000", "api_url", "must start with http:// or https://"),
        ("UPLIFT_DASHBOARD_PORT", "70000", "dashboard_port", "less than or equal to 65535"),
        ("UPLIFT_REQUEST_TIMEOUT", "0", "request_timeout", "greater than 0"),
    ],
)
def test_bad_values_name_the_field_and_rule(monkeypatch, var, value, field, rule):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError) as info:
        DashboardSettings()
    err = info.value.errors()[0]
    assert err["loc"] == (field,) and rule in err["msg"]
