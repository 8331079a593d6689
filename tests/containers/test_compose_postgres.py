"""The compose file's assignment log: a PostgreSQL service the API writes to through UPLIFT_LOG_URL."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.containers.images import interpolate, read_compose


def services() -> dict:
    return dict(interpolate(read_compose()["services"], {}))


def test_api_log_url_points_at_the_postgres_service() -> None:
    svc = services()
    url = urlsplit(svc["api"]["environment"]["UPLIFT_LOG_URL"])
    pg = svc["postgres"]["environment"]
    assert (url.scheme, url.hostname, url.port) == ("postgresql", "postgres", 5432)
    # The URL's credentials and database are the ones the server is created with.
    assert url.username == pg["POSTGRES_USER"] and url.password == pg["POSTGRES_PASSWORD"]
    assert url.path.lstrip("/") == pg["POSTGRES_DB"]


def test_postgres_is_the_official_image_with_a_volume_and_a_healthcheck() -> None:
    pg = services()["postgres"]
    assert pg["image"].split(":")[0] == "postgres"
    assert "build" not in pg and "ports" not in pg  # not published: the API reaches it on the compose network
    (volume,) = pg["volumes"]
    name, path = volume.split(":")
    assert path == "/var/lib/postgresql/data" and name in read_compose()["volumes"]
    test = pg["healthcheck"]["test"]
    assert (
        test[:2] == ["CMD", "pg_isready"] and test[test.index("-U") + 1] == pg["environment"]["POSTGRES_USER"]
    )


def test_api_waits_for_a_healthy_postgres() -> None:
    assert services()["api"]["depends_on"]["postgres"] == {"condition": "service_healthy"}


def test_the_log_url_can_be_overridden_from_the_environment() -> None:
    raw = read_compose()["services"]["api"]["environment"]["UPLIFT_LOG_URL"]
    env = {"UPLIFT_LOG_URL": "sqlite:///app/var/assignments.db"}
    assert interpolate(raw, env) == env["UPLIFT_LOG_URL"]
