"""Read what the Dockerfiles and the compose file say, so tests check and run exactly that.

A small reader, not a full Dockerfile parser: it knows the instructions these files use (FROM,
ARG, ENV, RUN, COPY, EXPOSE, HEALTHCHECK, CMD, USER, WORKDIR) and fails loudly on anything else.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILES = ("Dockerfile", "Dockerfile.api", "Dockerfile.dashboard")
COMPOSE = ROOT / "docker-compose.yml"
KNOWN = {"FROM", "ARG", "ENV", "RUN", "COPY", "EXPOSE", "HEALTHCHECK", "CMD", "USER", "WORKDIR"}
_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


@dataclass
class Stage:
    name: str
    base: str
    lines: list[tuple[str, str]] = field(default_factory=list)  # (instruction, arguments)

    def args(self, keyword: str) -> list[str]:
        return [a for k, a in self.lines if k == keyword]

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for text in self.args("ENV"):
            for pair in shlex.split(text):
                key, _, value = pair.partition("=")
                out[key] = value
        return out

    def cmd(self) -> list[str]:
        (text,) = self.args("CMD")
        return list(json.loads(text))

    def healthcheck(self) -> list[str] | None:
        (text,) = self.args("HEALTHCHECK")
        if text.strip() == "NONE":
            return None
        return list(json.loads(text.split(" CMD ", 1)[1]))

    def uv_syncs(self) -> list[list[str]]:
        """The flags of every `uv sync` this stage runs, in order."""
        return [shlex.split(r.split("uv sync", 1)[1]) for r in self.args("RUN") if "uv sync" in r]

    def copy_from(self, target: str) -> str | None:
        """The stage a `COPY --from=STAGE ... target` takes `target` from."""
        for text in self.args("COPY"):
            words = text.split()
            if words[-1] == target and words[0].startswith("--from="):
                return words[0].removeprefix("--from=")
        return None


@dataclass
class Dockerfile:
    path: Path
    stages: list[Stage]

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def env(self, name: str) -> dict[str, str]:
        """The ENV a stage runs with, its base stages' included (a later ENV wins)."""
        stage = self.stage(name)
        names = {s.name for s in self.stages}
        inherited = self.env(stage.base) if stage.base in names else {}
        return {**inherited, **stage.env()}

    def venv_flags(self, final: str) -> list[str]:
        """The flags of the project sync (the last `uv sync`) that built `final`'s /app/.venv."""
        source = self.stage(final).copy_from("/app/.venv")
        assert source, f"{self.path.name}:{final} copies no /app/.venv"
        return self.stage(source).uv_syncs()[-1]


def logical_lines(text: str) -> list[str]:
    """Instructions with their continuation lines joined; comments and blank lines dropped."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        out.append(pending + line)
        pending = ""
    assert not pending, "dangling line continuation"
    return out


def read_dockerfile(name: str) -> Dockerfile:
    path = ROOT / name
    stages: list[Stage] = []
    for line in logical_lines(path.read_text()):
        keyword, _, rest = line.partition(" ")
        assert keyword in KNOWN, (
            f"{name}: instruction {keyword} is not understood by tests/containers/images.py"
        )
        if keyword == "FROM":
            words = rest.split()
            stages.append(Stage(name=words[2] if len(words) == 3 else words[0], base=words[0]))
        else:
            stages[-1].lines.append((keyword, rest.strip()))
    return Dockerfile(path, stages)


def read_compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def variables(text: str) -> list[tuple[str, str | None]]:
    """Every `${NAME}` / `${NAME:-default}` in `text`, as (name, default or None)."""
    return [(m["name"], m["default"]) for m in _VAR.finditer(text)]


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's `${NAME:-default}` substitution over a loaded document, from `env`."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: env.get(m["name"]) or (m["default"] or ""), value)
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    return value


def option(argv: list[str], name: str) -> str:
    """The value that follows `name` in a command line."""
    return argv[argv.index(name) + 1]


def with_options(argv: list[str], **values: str) -> list[str]:
    """`argv` with the value after each `--name` replaced (e.g. a free port for a test)."""
    out = list(argv)
    for key, value in values.items():
        flag = "--" + key.replace("_", "-")
        out[out.index(flag) + 1] = value
    return out
