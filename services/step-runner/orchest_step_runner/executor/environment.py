"""What a step sees when it runs: its file, working directory, parameters and
environment variables, and the frozen pipeline definition (``docs/operations.md``)."""

from __future__ import annotations

import json
import os
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchest_schemas.commands import StepWork
from orchest_service.childenv import child_environment

PIPELINE_FILE_NAME = "pipeline.json"


@dataclass(frozen=True)
class StepLaunch:
    """Everything needed to start the step's process or kernel."""

    file: Path
    cwd: Path
    env: dict[str, str]
    parameters: dict[str, Any]
    pipeline_path: Path
    scratch_dir: Path
    project_dir: Path = Path()
    """The run's project directory, absolute."""
    pipeline: bytes = b""
    """``pipeline_path``'s content."""
    started: float = field(default_factory=time.time)
    """Epoch seconds before anything of the attempt started."""

    @property
    def marker(self) -> dict[str, str]:
        return attempt_marker(self.env)


def step_parameters(work: StepWork) -> dict[str, Any]:
    """The pipeline's parameters overridden by the step's (pipeline keys first)."""
    return {**work.definition.parameters, **work.step.parameters}


def session_uuid(project_uuid: str, pipeline_uuid: str) -> str:
    """Orchest's session uuid: the first 18 characters of each uuid."""
    return project_uuid[:18] + pipeline_uuid[:18]


def orchest_variables(work: StepWork, *, project_dir: Path, pipeline_path: Path) -> dict[str, str]:
    """The ``ORCHEST_*`` variables of one attempt."""
    project_uuid = work.project_uuid or ""
    pipeline_uuid = work.definition.uuid
    variables = {
        "ORCHEST_RUN_UUID": work.run_uuid,
        "ORCHEST_STEP_UUID": work.step_uuid,
        "ORCHEST_STEP_ATTEMPT": str(work.attempt),
        "ORCHEST_PIPELINE_UUID": pipeline_uuid,
        "ORCHEST_PROJECT_UUID": project_uuid,
        "ORCHEST_PROJECT_DIR": str(project_dir),
        "ORCHEST_PIPELINE_PATH": str(pipeline_path),
        "ORCHEST_SESSION_UUID": session_uuid(project_uuid, pipeline_uuid),
        "ORCHEST_SESSION_TYPE": "noninteractive" if work.job_uuid else "interactive",
        "ORCHEST_PARAMETERS": json.dumps(step_parameters(work), default=str),
    }
    if work.job_uuid:
        variables["ORCHEST_JOB_UUID"] = work.job_uuid
    return variables


MARKER_VARIABLES = (
    "ORCHEST_RUN_UUID",
    "ORCHEST_STEP_UUID",
    "ORCHEST_STEP_ATTEMPT",
    "ORCHEST_PIPELINE_PATH",  # in the private scratch directory: one execution only
)


def attempt_marker(env: Mapping[str, str]) -> dict[str, str]:
    """The variables every process of one execution inherits, and no other has."""
    return {name: env[name] for name in MARKER_VARIABLES}


def step_environment(
    work: StepWork, *, base: Mapping[str, str], project_dir: Path, pipeline_path: Path
) -> dict[str, str]:
    """The allow-listed part of ``base`` (the runner's environment: its
    settings and secrets stay out, see ``orchest_service.childenv``), then the
    run's variables, then ``ORCHEST_*`` (which the run's variables cannot
    override)."""
    return child_environment(
        base,
        variables={"PYTHONUNBUFFERED": "1", **work.env_variables},
        contract=orchest_variables(work, project_dir=project_dir, pipeline_path=pipeline_path),
    )


def write_pipeline_file(path: Path, text: bytes) -> None:
    """Write the frozen definition ``text`` (``sdk_pipeline_file``) at ``path``
    (without a file object: a step's set-up is on the runner's loop)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        left = memoryview(text)
        while left:
            left = left[os.write(fd, left) :]
    finally:
        os.close(fd)


_TEXTS: OrderedDict[str, bytes] = OrderedDict()


def sdk_pipeline_file(work: StepWork) -> bytes:
    """The frozen definition as the Orchest SDK reads it: every field written,
    defaults included (the SDK indexes ``name``, ``incoming_connections``,
    ``parameters`` and ``title`` without a default). Made once per definition:
    the steps of a run (and the runs of a pipeline version) share it, and a
    large pipeline's takes milliseconds to make."""
    key = work.definition_key
    text = _TEXTS.get(key) if key else None
    if text is None:
        text = work.definition.model_dump_json(indent=4).encode()
        if key:
            _TEXTS[key] = text
            while len(_TEXTS) > 32:
                _TEXTS.popitem(last=False)
    return text


def build_python(work: StepWork) -> str | None:
    """The Python of the step's environment's build (a process build's venv)."""
    if work.environment_venv is None:
        return None
    return str(Path(work.environment_venv) / "bin" / "python")


def in_venv(env: dict[str, str], venv: str | None) -> dict[str, str]:
    """``env`` as inside ``venv`` (activated: its ``bin`` first on ``PATH``)."""
    if venv is None:
        return env
    path = env.get("PATH") or "/usr/local/bin:/usr/bin:/bin"
    return {**env, "VIRTUAL_ENV": venv, "PATH": f"{Path(venv) / 'bin'}:{path}"}


def prepare_launch(work: StepWork, *, scratch_dir: Path, base_env: Mapping[str, str]) -> StepLaunch:
    """Write ``pipeline.json`` into ``scratch_dir`` and describe the launch."""
    project_dir = Path(work.project_dir).absolute()
    file = project_dir / work.step.file_path
    scratch_dir = scratch_dir.absolute()
    pipeline = sdk_pipeline_file(work)
    pipeline_path = scratch_dir / PIPELINE_FILE_NAME
    write_pipeline_file(pipeline_path, pipeline)
    env = step_environment(
        work, base=base_env, project_dir=project_dir, pipeline_path=pipeline_path
    )
    return StepLaunch(
        file=file,
        cwd=file.parent,
        env=in_venv(env, work.environment_venv),
        parameters=step_parameters(work),
        pipeline_path=pipeline_path,
        scratch_dir=scratch_dir,
        project_dir=project_dir,
        pipeline=pipeline,
    )
