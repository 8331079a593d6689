"""The compose `dask` profile: scheduler, workers and a trainer pointed at them, from the trainer image.

Static checks like the rest of this folder, plus the scheduler's own command run here with its port
swapped, so the health probe the compose file names is known to answer.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.containers.images import interpolate, read_compose, read_dockerfile
from tests.containers.test_names import parse_uplift
from tests.services.api.conftest import free_port

DASK_SERVICES = ("dask-scheduler", "dask-worker", "dask-data", "trainer-dask")


def services() -> dict[str, Any]:
    return dict(interpolate(read_compose()["services"], {}))


def dask_cli(argv: list[str]) -> dict[str, Any]:
    """Parse `dask scheduler|worker ...` with distributed's own click commands, without running them."""
    from distributed.cli import dask_scheduler, dask_worker

    assert argv[0] == "dask", argv
    command = {"scheduler": dask_scheduler.main, "worker": dask_worker.main}[argv[1]]
    with command.make_context(argv[1], list(argv[2:])) as ctx:
        return dict(ctx.params)


def test_the_profile_is_opt_in_and_runs_the_trainer_image() -> None:
    found = services()
    built = found["trainer"]["image"]
    for name in DASK_SERVICES:
        service = found[name]
        assert service["profiles"] == ["dask"], name
        # The image built from uv.lock with the trainer group (dask[distributed] is in it), never pulled.
        assert service["image"] == built and service["pull_policy"] == "never", name
        assert "build" not in service, name
    assert found["trainer"]["build"]["target"] == "trainer"
    assert all("profiles" not in found[name] for name in ("trainer", "api", "redis", "dashboard"))


def test_trainer_points_at_the_scheduler_the_workers_join() -> None:
    found = services()
    scheduler = dask_cli(found["dask-scheduler"]["command"])
    worker = dask_cli(found["dask-worker"]["command"])
    train = parse_uplift(found["trainer-dask"]["command"])
    address = f"tcp://dask-scheduler:{scheduler['port']}"
    assert worker["scheduler"] == address and train["dask_scheduler"] == address
    assert worker["nthreads"] == 1
    generate = parse_uplift(found["dask-data"]["command"])
    assert str(train["data"]) == str(generate["out"])
    # Tasks open files by path: every reader and writer mounts the volumes at the same place.
    data_dir = str(Path(str(train["data"])).parent)
    for name in ("dask-worker", "dask-data", "trainer-dask"):
        assert f"dask-data:{data_dir}" in found[name]["volumes"], name
    for name in ("dask-worker", "trainer-dask"):
        assert f"models:{train['out']}" in found[name]["volumes"], name
    assert found["trainer-dask"]["depends_on"]["dask-data"] == {"condition": "service_completed_successfully"}
    assert found["dask-worker"]["depends_on"]["dask-scheduler"] == {"condition": "service_healthy"}


def test_the_runtime_image_owns_the_data_folder() -> None:
    # The dask-data volume starts as a copy of the image's folder: it must exist, owned by the runtime user.
    (run,) = read_dockerfile("Dockerfile.api").stage("runtime").args("RUN")
    assert "mkdir -p" in run and "chown uplift:uplift" in run
    assert run.count("/app/data") == 2


def test_the_scheduler_command_answers_its_health_check(tmp_path: Path) -> None:
    found = services()["dask-scheduler"]
    port, http = free_port(), free_port()
    argv = [str(a) for a in found["command"]]
    argv[argv.index("--port") + 1] = str(port)
    argv[argv.index("--dashboard-address") + 1] = f"127.0.0.1:{http}"
    probe = [str(a).replace(":8787/", f":{http}/") for a in found["healthcheck"]["test"][1:]]
    exe = Path(sys.executable).with_name(argv[0])
    proc = subprocess.Popen([str(exe), *argv[1:]], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        deadline, ok = time.monotonic() + 60, False
        while time.monotonic() < deadline and not ok:
            time.sleep(0.5)
            ok = (
                subprocess.run([sys.executable, *probe[1:]], check=False, capture_output=True).returncode == 0
            )
        assert ok, f"{probe} never passed"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
