"""CI's container gate: hadolint on every Dockerfile, the compose file against the Compose spec.

Each check also runs on a broken copy, so a gate that stopped looking would fail here too.
The Compose spec's JSON schema comes with check-jsonschema (`vendor.compose-spec`, Apache-2.0,
from github.com/compose-spec/compose-spec), so validation needs no network.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.containers.images import COMPOSE, DOCKERFILES, ROOT, read_compose, variables

BIN = Path(sys.executable).parent


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    # Default threshold: any finding fails, info and style included (so warnings certainly do).
    return subprocess.run(
        [BIN / "hadolint", "--no-color", str(path)], check=False, capture_output=True, text=True
    )


def compose_schema(path: Path) -> subprocess.CompletedProcess[str]:
    cmd = [BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)]
    return subprocess.run(cmd, check=False, capture_output=True, text=True)


def compose_config(path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail(
            "docker-compose is missing: .ci/run installs Debian's package (apt-get install docker-compose)"
        )
    # An empty environment: the file must be complete on its defaults alone.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(path.parent)}
    return subprocess.run(
        [exe, "-f", str(path), "config", "-q"], check=False, capture_output=True, text=True, env=env
    )


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_finds_nothing(name: str) -> None:
    res = hadolint(ROOT / name)
    assert res.returncode == 0 and res.stdout == "", res.stdout + res.stderr


def test_hadolint_fails_a_broken_dockerfile(tmp_path: Path) -> None:
    text = (ROOT / "Dockerfile.api").read_text()
    bad = tmp_path / "Dockerfile"
    bad.write_text(text.replace("python:3.11-slim-bookworm", "python:latest", 1) + "RUN cd /tmp\n")
    res = hadolint(bad)
    assert res.returncode != 0
    assert "DL3007" in res.stdout and "DL3003" in res.stdout  # `latest` tag; cd instead of WORKDIR


def test_compose_file_matches_the_compose_spec() -> None:
    res = compose_schema(COMPOSE)
    assert res.returncode == 0, res.stdout + res.stderr


def test_compose_config_accepts_it_with_an_empty_environment() -> None:
    res = compose_config(COMPOSE)
    assert res.returncode == 0 and "not set" not in res.stderr, res.stderr


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("condition: service_completed_successfully", "condition: service_done"),
        ("    depends_on:\n      api:", "    depend_on:\n      api:"),  # a typo in a key
    ],
)
def test_compose_checks_fail_a_broken_file(tmp_path: Path, old: str, new: str) -> None:
    text = COMPOSE.read_text()
    assert old in text
    bad = tmp_path / "docker-compose.yml"
    bad.write_text(text.replace(old, new))
    assert compose_schema(bad).returncode != 0
    assert compose_config(bad).returncode != 0


def test_every_compose_variable_has_a_safe_default() -> None:
    found = variables(COMPOSE.read_text())
    assert found, "the compose file takes no setting from the environment"
    assert [name for name, default in found if not default] == []
    binds = {default for name, default in found if name == "UPLIFT_BIND_ADDRESS"}
    assert binds == {"127.0.0.1"}


def test_published_ports_bind_to_loopback_by_default() -> None:
    for name, service in read_compose()["services"].items():
        for mapping in service.get("ports", []):
            assert str(mapping).startswith("${UPLIFT_BIND_ADDRESS:-127.0.0.1}:"), (name, mapping)
