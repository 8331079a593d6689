"""The images' build rules: uv's locked two-step sync with a cache mount, one group per service,
a slim non-root final stage with a health check, and one thread per process on the scoring path."""

from __future__ import annotations

import pytest

from tests.containers.images import DOCKERFILES, read_dockerfile

FINAL = {
    ("Dockerfile.api", "trainer"): {"trainer"},
    ("Dockerfile.api", "api"): {"api"},
    ("Dockerfile.dashboard", "dashboard"): {"dashboard"},
    ("Dockerfile", "space"): {"api", "dashboard"},
}
BASE = "python:3.11-slim-bookworm"


def groups(flags: list[str]) -> set[str]:
    return {flags[i + 1] for i, f in enumerate(flags) if f == "--group"}


@pytest.mark.parametrize(("dockerfile", "stage"), list(FINAL))
def test_venv_holds_only_the_service_groups(dockerfile: str, stage: str) -> None:
    flags = read_dockerfile(dockerfile).venv_flags(stage)
    assert groups(flags) == FINAL[(dockerfile, stage)]
    assert {"--locked", "--no-dev", "--no-editable"} <= set(flags)


@pytest.mark.parametrize("dockerfile", DOCKERFILES)
def test_every_sync_is_two_steps_with_the_same_flags_and_a_cache_mount(dockerfile: str) -> None:
    parsed = read_dockerfile(dockerfile)
    building = [s for s in parsed.stages if s.uv_syncs()]
    assert building
    for stage in building:
        deps, project = stage.uv_syncs()
        assert sorted(deps) == sorted([*project, "--no-install-project"]), stage.name
        for run in stage.args("RUN"):
            if "uv sync" in run:
                assert "--mount=type=cache,target=/root/.cache/uv" in run
        # dependencies first (their layer survives a source change), then the sources, then the project
        kinds = [
            k
            for k, a in stage.lines
            if (k == "COPY" and "--from" not in a) or (k == "RUN" and "uv sync" in a)
        ]
        assert kinds[0] == "RUN" and kinds[-1] == "RUN" and "COPY" in kinds[1:-1]


@pytest.mark.parametrize(("dockerfile", "stage"), list(FINAL))
def test_final_stage_is_slim_non_root_and_without_uv(dockerfile: str, stage: str) -> None:
    parsed = read_dockerfile(dockerfile)
    final = parsed.stage(stage)
    chain = [final]
    while chain[-1].base in {s.name for s in parsed.stages}:
        chain.append(parsed.stage(chain[-1].base))
    assert chain[-1].base == BASE
    (user,) = [u for s in chain for u in s.args("USER")]
    assert user.split(":")[0] not in ("0", "root")
    assert all(not c.startswith("--from=uv") for s in chain for c in s.args("COPY"))
    assert parsed.env(stage)["PATH"].startswith("/app/.venv/bin:")


def test_space_runs_as_uid_1000() -> None:
    assert read_dockerfile("Dockerfile").stage("space").args("USER") == ["1000:1000"]


def test_services_have_health_checks_and_the_job_has_none() -> None:
    assert read_dockerfile("Dockerfile.api").stage("trainer").healthcheck() is None
    for dockerfile, stage in (
        ("Dockerfile.api", "api"),
        ("Dockerfile.dashboard", "dashboard"),
        ("Dockerfile", "space"),
    ):
        assert read_dockerfile(dockerfile).stage(stage).healthcheck(), (dockerfile, stage)


def test_scoring_path_runs_one_thread_per_process() -> None:
    for dockerfile, stage in (("Dockerfile.api", "api"), ("Dockerfile", "space")):
        env = read_dockerfile(dockerfile).env(stage)
        assert {env[v] for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")} == {"1"}


def test_uv_comes_from_one_pinned_image() -> None:
    tags = {read_dockerfile(d).stages[0].base for d in DOCKERFILES}
    assert len(tags) == 1
    (tag,) = tags
    assert tag.startswith("ghcr.io/astral-sh/uv:") and tag.rsplit(":", 1)[1][0].isdigit()


def test_space_trains_with_the_trainer_image_flags() -> None:
    space = read_dockerfile("Dockerfile")
    artifacts = space.stage("artifacts")
    assert artifacts.base == "trainer-build"
    assert space.stage("trainer-build").uv_syncs()[-1] == read_dockerfile("Dockerfile.api").venv_flags(
        "trainer"
    )
