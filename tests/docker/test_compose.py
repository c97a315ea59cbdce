"""``deploy/compose.yml`` against the real dockerd: the images built by
``deploy/build.sh`` (cached), the stack up on free ports under a project name
of its own with its host directories in a temporary one, pipelines and a job
run through the gateway, then ``down -v`` leaving no container, volume or
network."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from support import ENV_WITHOUT_ORCHEST, REPO_ROOT, built_images, free_port

if TYPE_CHECKING:
    # Not imported when the tests run (see test_images.py).
    from conftest import Docker

# The first test also waits for deploy/build.sh: a minute or more on a first
# build (several when the base must be bootstrapped), seconds once cached.
pytestmark = pytest.mark.timeout(2100)

BUILD_SCRIPT = REPO_ROOT / "deploy" / "build.sh"
COMPOSE_FILE = REPO_ROOT / "deploy" / "compose.yml"
BUILD_TIMEOUT = 1800.0
HEALTHY_TIMEOUT = 120.0
RUN_TIMEOUT = 120.0
FAN_OUT = 6
"""Steps after the root, each a second long: more than one runner's slots."""
RUNNER_SLOTS = 2
FINAL = {"SUCCESS", "FAILURE", "ABORTED"}


def compose_command() -> list[str]:
    """``docker compose`` (the v2 plugin) where installed, else Debian's
    ``docker-compose``; the test fails if neither is."""
    docker = shutil.which("docker")
    if docker is not None:
        version = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=30
        )
        if version.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy is not None:
        return [legacy]
    pytest.fail(
        "neither `docker compose` nor `docker-compose` is installed "
        "(apt-get install docker-compose)",
        pytrace=False,
    )


@dataclass(frozen=True)
class ComposeStack:
    """One project of ``deploy/compose.yml`` and its gateway's URL."""

    command: list[str]
    project: str
    env: dict[str, str]
    url: str
    projects_dir: Path
    shared_dir: Path

    def __call__(self, *args: str, timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command, "--file", str(COMPOSE_FILE), "--project-name", self.project, *args],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
        )

    def logs(self) -> str:
        logs = self("logs", "--no-color", "--tail", "40", timeout=60)
        return (logs.stdout + logs.stderr)[-8000:]


@pytest.fixture(scope="module")
def deploy_images(docker: Docker) -> dict[str, str]:
    """The images ``deploy/build.sh`` printed, by name (seconds when cached)."""
    built = built_images(BUILD_SCRIPT, BUILD_TIMEOUT)
    names = {"orchest/services", "orchest/nats", "orchest/postgres"}
    if set(built) != names:
        pytest.fail(f"deploy/build.sh printed {sorted(built.values())}", pytrace=False)
    return built


@pytest.fixture(scope="module")
def stack(docker: Docker, deploy_images: dict[str, str]) -> Iterator[ComposeStack]:
    """The stack up and healthy; afterwards ``down -v``, and nothing of it left."""
    # Letters and digits only: compose v1 drops anything else from the name.
    project = f"orchesttest{uuid.uuid4().hex[:10]}"
    nats_port, monitor_port, postgres_port, gateway_port = (free_port() for _ in range(4))
    with tempfile.TemporaryDirectory(prefix="orchest-compose-") as tmp:
        projects, shared = Path(tmp) / "projects", Path(tmp) / "shared"
        projects.mkdir()
        env = {
            **ENV_WITHOUT_ORCHEST,
            "ORCHEST_IMAGE": deploy_images["orchest/services"],
            "ORCHEST_NATS_IMAGE": deploy_images["orchest/nats"],
            "ORCHEST_POSTGRES_IMAGE": deploy_images["orchest/postgres"],
            "ORCHEST_NATS_PORT": str(nats_port),
            "ORCHEST_NATS_MONITOR_PORT": str(monitor_port),
            "ORCHEST_NATS_URL": f"nats://127.0.0.1:{nats_port}",
            "ORCHEST_POSTGRES_PORT": str(postgres_port),
            "ORCHEST_DATABASE_URL": (
                f"postgresql://orchest:orchest@127.0.0.1:{postgres_port}/orchest"
            ),
            "ORCHEST_PORT": str(gateway_port),
            "ORCHEST_PROJECTS_DIR": str(projects),
            "ORCHEST_SHARED_DIR": str(shared),
            "ORCHEST_SLOTS": str(RUNNER_SLOTS),
        }
        url = f"http://127.0.0.1:{gateway_port}"
        compose = ComposeStack(compose_command(), project, env, url, projects, shared)
        try:
            up = compose("up", "--detach")
            if up.returncode != 0:
                pytest.fail(f"compose up failed:\n{up.stderr[-4000:]}\n{compose.logs()}")
            wait_healthy(compose)
            yield compose
        finally:
            down = compose("down", "--volumes", "--remove-orphans", "--timeout", "30")
            assert down.returncode == 0, down.stderr
            assert leftovers(docker, project) == [], "compose down left these behind"


def wait_healthy(compose: ComposeStack) -> None:
    """Until ``GET /api/health`` answers 200 (every service has an instance)."""
    deadline = time.monotonic() + HEALTHY_TIMEOUT
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            health = httpx.get(f"{compose.url}/api/health", timeout=5.0)
            if health.status_code == 200:
                return
            last = f"{health.status_code} {health.text}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.5)  # wait-ok: polls a health check of containers that announce nothing
    pytest.fail(f"/api/health not 200 within {HEALTHY_TIMEOUT}s: {last}\n{compose.logs()}")


def leftovers(docker: Docker, project: str) -> list[str]:
    """Containers, volumes and networks of ``project`` that still exist."""
    label = f"label=com.docker.compose.project={project}"
    found = []
    for kind, args in [
        ("container", ["ps", "--all", "--filter", label]),
        ("volume", ["volume", "ls", "--filter", label]),
        ("network", ["network", "ls", "--filter", label]),
        ("network", ["network", "ls", "--filter", f"name={project}"]),
    ]:
        listed = docker(*args, "--quiet")
        assert listed.returncode == 0, listed.stderr
        found += [f"{kind} {name}" for name in listed.stdout.split()]
    return found


def project_with_steps(root: Path, steps: dict[str, tuple[str, list[str]]]) -> dict[str, Any]:
    """A pipeline of ``.sh`` steps (uuid -> (script, parents)) written under ``root``."""
    root.mkdir()
    definition: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "name": "compose",
        "version": "1.0.0",
        "parameters": {},
        "settings": {},
        "services": {},
        "steps": {},
    }
    for key, (script, parents) in steps.items():
        (root / f"{key}.sh").write_text(script)
        definition["steps"][key] = {
            "uuid": key,
            "title": key,
            "file_path": f"{key}.sh",
            "incoming_connections": parents,
            "environment": "",
            "kernel": {"name": "python", "display_name": "Python 3"},
            "parameters": {},
            "meta_data": {"hidden": False, "position": [0, 0]},
        }
    return definition


def run_events(compose: ComposeStack, run_uuid: str) -> list[dict[str, Any]]:
    """The run's events from the gateway's SSE stream (replayed), up to its end."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + RUN_TIMEOUT
    params = {"run_uuid": run_uuid, "replay": "true"}
    with httpx.stream(
        "GET", f"{compose.url}/api/events", params=params, timeout=RUN_TIMEOUT
    ) as stream:
        for line in stream.iter_lines():
            assert time.monotonic() < deadline, f"run not over within {RUN_TIMEOUT}s: {events}"
            if line.startswith("data:"):
                event = json.loads(line.removeprefix("data:"))
                events.append(event)
                if event["kind"] == "run_status_changed" and event["status"] in FINAL:
                    return events
    raise AssertionError(f"the event stream ended before the run: {events}")


def test_every_container_uses_the_host_network(docker: Docker, stack: ComposeStack) -> None:
    containers = docker(
        "ps", "--quiet", "--filter", f"label=com.docker.compose.project={stack.project}"
    ).stdout.split()
    modes = docker("inspect", "--format", "{{.HostConfig.NetworkMode}}", *containers)

    # nats, postgres, gateway, scheduler, session manager, two step runners.
    assert len(containers) == 7
    assert modes.stdout.split() == ["host"] * 7
    assert docker("network", "ls", "--quiet", "--filter", f"name={stack.project}").stdout == ""


def test_the_gateway_serves_the_dashboard_build(stack: ComposeStack) -> None:
    """The services image carries ui/dist as deploy/build.sh built it: the
    compose gateway serves it at / (and the app's routes) like the embedded one."""
    built = (REPO_ROOT / "ui" / "dist" / "index.html").read_text()
    for path in ("/", "/runs/some-run"):
        page = httpx.get(f"{stack.url}{path}", timeout=10.0)
        assert page.status_code == 200, (path, page.text[:300])
        assert page.text == built
        assert page.headers["cache-control"] == "no-cache"
    asset = built.split('src="', 1)[1].split('"', 1)[0]
    script = httpx.get(f"{stack.url}{asset}", timeout=10.0)
    assert script.status_code == 200
    assert "immutable" in script.headers["cache-control"]


def test_both_step_runner_replicas_take_steps_of_a_fan_out(stack: ComposeStack) -> None:
    fan_out = {f"leaf{i}": (f"sleep 1; echo leaf {i}\n", ["root"]) for i in range(FAN_OUT)}
    definition = project_with_steps(
        stack.projects_dir / "fan-out", {"root": ("echo root\n", []), **fan_out}
    )
    runners = httpx.get(f"{stack.url}/api/health").json()["services"]
    replicas = {
        instance["id"]
        for service in runners
        if service["name"] == "step-runner"
        for instance in service["instances"]
    }

    created = httpx.post(
        f"{stack.url}/api/runs",
        json={
            "pipeline_definition": definition,
            "run_type": "full",
            "uuids": [],
            "run_config": {"project_dir": str(stack.projects_dir / "fan-out")},
        },
    )
    assert created.status_code == 201, created.text
    run_uuid = created.json()["uuid"]
    events = run_events(stack, run_uuid)
    run = httpx.get(f"{stack.url}/api/runs/{run_uuid}").json()
    log = httpx.get(f"{stack.url}/api/runs/{run_uuid}/steps/leaf3/logs")

    assert run["status"] == "SUCCESS"
    assert {step["step_uuid"]: step["status"] for step in run["pipeline_steps"]} == {
        key: "SUCCESS" for key in definition["steps"]
    }
    assert "leaf 3" in log.text
    # A runner id is "<host>:<pid>:<its micro instance id>".
    took = {
        event["runner_id"].rpartition(":")[2]
        for event in events
        if event["kind"] == "step_status_changed" and event["status"] == "STARTED"
    }
    assert len(replicas) == 2
    assert took == replicas


def test_a_job_runs_its_snapshot_from_the_shared_jobs_dir(stack: ComposeStack) -> None:
    definition = project_with_steps(
        stack.projects_dir / "job", {"only": ('echo "job step in $PWD"\n', [])}
    )

    created = httpx.post(
        f"{stack.url}/api/jobs",
        json={
            "name": "compose",
            "pipeline_definition": definition,
            "project_dir": str(stack.projects_dir / "job"),
        },
    )
    assert created.status_code == 201, created.text
    job_uuid = created.json()["uuid"]
    deadline = time.monotonic() + RUN_TIMEOUT
    while (job := httpx.get(f"{stack.url}/api/jobs/{job_uuid}").json())["status"] not in FINAL:
        assert time.monotonic() < deadline, f"job not over within {RUN_TIMEOUT}s: {job}"
        time.sleep(0.2)  # wait-ok: a bounded poll of the job's state (a synchronous test)
    [run] = httpx.get(f"{stack.url}/api/jobs/{job_uuid}/runs").json()["runs"]
    log = httpx.get(f"{stack.url}/api/runs/{run['uuid']}/steps/only/logs")

    jobs_dir = stack.shared_dir / "jobs"
    assert job["status"] == "SUCCESS", job
    assert Path(job["snapshot_dir"]).parent.parent == jobs_dir
    # The scheduler wrote the snapshot and the run's workspace in the shared
    # jobs dir; a runner ran the step there.
    assert (Path(job["snapshot_dir"]) / "only.sh").is_file()
    assert f"job step in {jobs_dir}/" in log.text
