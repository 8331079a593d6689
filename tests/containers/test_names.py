"""Every command, path, port and environment variable the container files name exists in the code.

A renamed option, setting or route would otherwise surface only when an image runs somewhere else.
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer

from services.api.settings import ApiSettings
from services.dashboard.settings import DashboardSettings
from services.trainer.settings import TrainerSettings
from tests.containers.images import (
    DOCKERFILES,
    ROOT,
    Dockerfile,
    interpolate,
    option,
    read_compose,
    read_dockerfile,
)

SETTINGS = (ApiSettings, TrainerSettings, DashboardSettings)
# Read by the interpreter, the OS or uv at build time, not by this project.
RUNTIME_VARIABLES = {
    "PATH", "HOME", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE",
    "UV_COMPILE_BYTECODE", "UV_LINK_MODE", "UV_PYTHON_DOWNLOADS",
    # The official postgres image's own settings (the compose `postgres` service).
    "POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD",
}  # fmt: skip
FINAL = {"Dockerfile": ["space"], "Dockerfile.api": ["trainer", "api"], "Dockerfile.dashboard": ["dashboard"]}
COMPOSE_TARGET = {"trainer": "trainer", "api": "api", "dashboard": "dashboard"}  # service -> final stage


def uplift() -> Any:
    """The real `uplift` command group, as the console script builds it."""
    from services.cli import app

    return typer.main.get_command(app)


def parse_uplift(argv: list[str]) -> dict[str, Any]:
    """Parse `uplift ...` as the real CLI would (options, types, ranges), without running it."""
    assert argv[0] == "uplift", argv
    group = uplift()
    command = group.commands.get(argv[1])
    assert command is not None, f"`uplift {argv[1]}` does not exist"
    with command.make_context(argv[1], list(argv[2:])) as ctx:
        return dict(ctx.params)


def setting_variables() -> set[str]:
    names: set[str] = set()
    for cls in SETTINGS:
        prefix = str(cls.model_config.get("env_prefix", ""))
        names |= {(prefix + name).upper() for name in cls.model_fields}
    return names


def named_in_code(name: str) -> bool:
    return any(name in p.read_text() for d in ("services", "shared") for p in (ROOT / d).rglob("*.py"))


def compose_env() -> dict[str, dict[str, str | None]]:
    services = interpolate(read_compose()["services"], {})
    return {name: dict(s.get("environment") or {}) for name, s in services.items()}


def all_final_stages() -> list[tuple[Dockerfile, str]]:
    return [(read_dockerfile(name), stage) for name in DOCKERFILES for stage in FINAL[name]]


def space_train_command() -> list[str]:
    stage = read_dockerfile("Dockerfile").stage("artifacts")
    defaults = dict(a.split("=", 1) for a in stage.args("ARG"))
    (run,) = stage.args("RUN")
    words = [re.sub(r"\$\{(\w+)\}", lambda m: defaults[m[1]], w) for w in run.split()]
    return ["uplift", *[w.strip('"') for w in words[1:]]]


# ---- commands ----


@pytest.mark.parametrize(("dockerfile", "stage"), [(d, s) for d, stages in FINAL.items() for s in stages])
def test_image_commands_parse_with_the_real_cli(dockerfile: str, stage: str) -> None:
    parse_uplift(read_dockerfile(dockerfile).stage(stage).cmd())


def test_compose_commands_parse_with_the_real_cli() -> None:
    for service in interpolate(read_compose()["services"], {}).values():
        if "build" in service:
            parse_uplift([str(a) for a in service["command"]])


def test_space_trains_at_build_time_with_a_fixed_seed() -> None:
    params = parse_uplift(space_train_command())
    assert params["seed"] == 7 and params["rows"] > 0


def test_a_wrong_option_would_be_caught() -> None:
    with pytest.raises(Exception, match="No such option: --prot"):
        parse_uplift(["uplift", "serve", "--prot", "8000"])
    with pytest.raises(Exception, match="valid integer"):
        parse_uplift(["uplift", "serve", "--port", "eighty"])


def test_health_probe_module_exists() -> None:
    for dockerfile, stage in all_final_stages():
        probe = dockerfile.stage(stage).healthcheck()
        if probe is not None:
            assert probe[:2] == ["python", "-m"]
            assert importlib.util.find_spec(probe[2]) is not None, probe


# ---- environment variables ----


def test_image_and_compose_variables_exist_in_settings_or_code() -> None:
    known = setting_variables()
    named = {k for d, s in all_final_stages() for k in d.stage(s).env()}
    named |= {k for name in DOCKERFILES for st in read_dockerfile(name).stages for k in st.env()}
    named |= {k for env in compose_env().values() for k in env}
    unknown = [n for n in sorted(named - RUNTIME_VARIABLES) if n not in known and not named_in_code(n)]
    assert unknown == []


def test_compose_environment_passes_settings_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    envs = compose_env()
    for service, cls in (
        ("trainer", TrainerSettings),
        ("api", ApiSettings),
        ("dashboard", DashboardSettings),
    ):
        for key, value in envs[service].items():
            if value is None:
                monkeypatch.delenv(key, raising=False)  # passed through from the host only when set
            else:
                monkeypatch.setenv(key, str(value))
        cls()
        for key in envs[service]:
            monkeypatch.delenv(key, raising=False)


def test_unknown_setting_variable_would_be_caught() -> None:
    assert "UPLIFT_MODELS_DIR" in setting_variables()
    assert "UPLIFT_MODEL_DIR" not in setting_variables() and not named_in_code("UPLIFT_MODEL_DIR")


# ---- ports ----


def test_ports_agree_across_image_command_healthcheck_and_defaults() -> None:
    api = read_dockerfile("Dockerfile.api").stage("api")
    dash = read_dockerfile("Dockerfile.dashboard").stage("dashboard")
    space = read_dockerfile("Dockerfile").stage("space")
    defaults = {
        "serve": parse_uplift(["uplift", "serve"])["port"],
        "dashboard": DashboardSettings().dashboard_port,
        "space": parse_uplift(["uplift", "space"])["port"],
        "space_api": parse_uplift(["uplift", "space"])["api_port"],
    }
    assert defaults == {"serve": 8000, "dashboard": 8501, "space": 7860, "space_api": 8000}  # design.md
    for stage, port in ((api, 8000), (dash, 8501), (space, 7860)):
        assert stage.args("EXPOSE") == [str(port)]
        assert option(stage.cmd(), "--port") == str(port)
        assert urlsplit((stage.healthcheck() or [])[3]).port == port
    assert option(space.cmd(), "--host") == "0.0.0.0" and option(space.cmd(), "--api-port") == "8000"
    assert urlsplit((space.healthcheck() or [])[4]).port == 8000  # the API inside, on loopback


def test_compose_ports_agree_with_images() -> None:
    services = interpolate(read_compose()["services"], {})
    for name, port in (("api", 8000), ("dashboard", 8501)):
        service = services[name]
        assert [str(p).rsplit(":", 1)[1] for p in service["ports"]] == [str(port)]
        assert option([str(a) for a in service["command"]], "--port") == str(port)
        assert urlsplit(service["healthcheck"]["test"][4]).port == port
    assert services["dashboard"]["environment"]["UPLIFT_API_URL"] == "http://api:8000"
    redis_url = urlsplit(services["api"]["environment"]["UPLIFT_BANDIT_URL"])
    assert (redis_url.scheme, redis_url.hostname, redis_url.port) == ("redis", "redis", 6379)
    assert "redis" in services and "redis-server" in services["redis"]["command"]


# ---- paths and routes ----


def test_health_routes_exist() -> None:
    from services.api.main import create_app

    routes = set(create_app(ApiSettings()).openapi()["paths"])
    urls = [u for d, s in all_final_stages() for u in (d.stage(s).healthcheck() or [])[3:]]
    services = read_compose()["services"].values()
    urls += [str(s["healthcheck"]["test"][4]) for s in services if "healthcheck" in s and "build" in s]
    for url in urls:
        path = urlsplit(url).path
        if urlsplit(url).port == 8000:
            assert path in routes, url
        else:
            # Streamlit's own health route; the parity tests probe it on a real dashboard.
            assert path == "/_stcore/health", url


def test_copied_sources_exist_and_are_in_the_build_context() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    wheel = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    for name in DOCKERFILES:
        for stage in read_dockerfile(name).stages:
            sources = [w for c in stage.args("COPY") if not c.startswith("--from") for w in c.split()[:-1]]
            for src in sources:
                assert (ROOT / src).exists() and src not in ignored, (name, src)
            if sources:  # a stage that builds the project copies every package and the readme
                assert set(wheel["packages"]) | {"README.md", "pyproject.toml", "uv.lock"} <= set(sources)


def test_model_and_data_paths_agree() -> None:
    compose = interpolate(read_compose(), {})
    services = compose["services"]
    runtime = read_dockerfile("Dockerfile.api").stage("runtime")
    env = runtime.env()
    models, data = env["UPLIFT_MODELS_DIR"], env["UPLIFT_DATA_DIR"]
    assert f"mkdir -p {models} {data}" in runtime.args("RUN")[0]  # owned by the user, so volumes are too
    assert option([str(a) for a in services["trainer"]["command"]], "--out") == models
    assert services["trainer"]["environment"]["UPLIFT_MODELS_DIR"] == models
    assert services["api"]["environment"]["UPLIFT_MODELS_DIR"] == models
    assert services["api"]["environment"]["UPLIFT_DATA_DIR"] == data
    assert f"models:{models}" in services["trainer"]["volumes"]
    assert f"models:{models}:ro" in services["api"]["volumes"]
    assert f"api-data:{data}" in services["api"]["volumes"]
    used = {v.split(":")[0] for s in services.values() for v in s.get("volumes", [])}
    assert used == set(compose["volumes"])
    space = read_dockerfile("Dockerfile")
    assert option(space_train_command(), "--out") == space.stage("space").env()["UPLIFT_MODELS_DIR"]
    assert space.stage("space").copy_from(space.stage("space").env()["UPLIFT_MODELS_DIR"]) == "artifacts"


def test_compose_builds_existing_stages() -> None:
    for name, service in read_compose()["services"].items():
        if "build" in service:
            dockerfile = read_dockerfile(service["build"]["dockerfile"])
            target = service["build"].get("target", dockerfile.stages[-1].name)
            assert target == COMPOSE_TARGET[name]
            assert target in {s.name for s in dockerfile.stages}
    assert read_compose()["services"]["api"]["depends_on"] == {
        "trainer": {"condition": "service_completed_successfully"},
        "redis": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
    }
    assert read_compose()["services"]["dashboard"]["depends_on"] == {"api": {"condition": "service_healthy"}}
