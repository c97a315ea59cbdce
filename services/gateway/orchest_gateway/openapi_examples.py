"""An example of each request body and each main response of the API, by
model, for the OpenAPI document (``openapi.build_document``) and so for the
interactive reference at ``/api/docs``.

Written as JSON, as a client sends or reads it; the tests validate each one
against its model, so an example that drifts from its model fails them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from orchest_schemas.commands import CreateJob, CreateRun
from orchest_schemas.environments import BuildList, BuildView, EnvironmentList, EnvironmentView
from orchest_schemas.health import HealthReport
from orchest_schemas.jobs import JobList, JobView, SchedulePreview
from orchest_schemas.projects import (
    CreateProject,
    FileContent,
    FileEntry,
    FileList,
    PipelineDocument,
    PipelineList,
    ProjectList,
    ProjectView,
)
from orchest_schemas.runs import AttemptList, RunList, RunView, StepView
from orchest_schemas.sessions import SessionList, SessionView

from .environments_api import EnvironmentChanges, NewEnvironment
from .jobs_api import JobUpdate
from .project_files_api import FileText, Move, NewStepFile
from .projects_api import NewPipeline, PipelineBody, PipelineEnv, ProjectChanges
from .sessions_api import SessionLaunch

PROJECT = "5f0c7f1e-2b7e-4d59-9a53-0b7d5c1f6a10"
PIPELINE = "0915b350-b929-4cbd-b0d4-763cac0bb69f"
RUN = "9b6ea3f4-3c0e-4a8e-9d0b-8f8f3c1d2e71"
JOB = "c4a1d2b8-5e6f-4a70-8b91-2c3d4e5f6a7b"
SESSION = "e2f1a0b9-8c7d-4e6f-9a5b-4c3d2e1f0a98"
PROJECT_DIR = "/home/ada/orchest/projects/quickstart"
WHEN = "2026-05-04T09:30:00Z"
LATER = "2026-05-04T09:30:12Z"

ENVIRONMENT = "3c1e5d7a-9b2f-4c6d-8e0a-1f2b3c4d5e6f"
BUILD = "7d2c4b6a-8e1f-4a3b-9c5d-6e7f8a9b0c1d"
NEW_ENVIRONMENT = {
    "name": "Python with pandas",
    "language": "python",
    "base_image": "orchest/base-kernel-py",
    "setup_script": "#!/bin/bash\npip install pandas\n",
    "env_variables": {"MPLBACKEND": "Agg"},
}
BUILD_VIEW = {
    "uuid": BUILD,
    "project_uuid": PROJECT,
    "environment_uuid": ENVIRONMENT,
    "builder": "process",
    "status": "SUCCESS",
    "reason": None,
    "exit_code": 0,
    "venv_path": f"/var/lib/orchest/environments/{PROJECT}/{ENVIRONMENT}/{BUILD}/venv",
    "image": None,
    "size_bytes": 48_213_504,
    "created_time": WHEN,
    "started_time": WHEN,
    "finished_time": LATER,
    "pruned_time": None,
}
ENVIRONMENT_VIEW = {
    **NEW_ENVIRONMENT,
    "uuid": ENVIRONMENT,
    "project_uuid": PROJECT,
    "project_dir": PROJECT_DIR,
    "gpu_support": False,
    "problems": [],
    "latest_build": BUILD_VIEW,
}
STEP = {
    "uuid": "load",
    "title": "Load data",
    "file_path": "load.ipynb",
    "incoming_connections": [],
    "kernel": {"name": "python", "display_name": "Python 3"},
    "parameters": {"rows": 1000},
}
TRAIN = {
    "uuid": "train",
    "title": "Train",
    "file_path": "train.py",
    "incoming_connections": ["load"],
    "parameters": {},
}
DEFINITION: dict[str, Any] = {
    "uuid": PIPELINE,
    "name": "quickstart",
    "version": "1.0.0",
    "parameters": {"seed": 7},
    "settings": {"retries": 1},
    "services": {},
    "steps": {"load": STEP, "train": TRAIN},
}
STEP_VIEW: dict[str, Any] = {
    "run_uuid": RUN,
    "step_uuid": "load",
    "title": "Load data",
    "file_path": "load.ipynb",
    "status": "SUCCESS",
    "attempt": 1,
    "started_time": WHEN,
    "finished_time": LATER,
    "exit_code": 0,
    "error": None,
    "artifacts": ["load.ipynb"],
}
RUN_VIEW: dict[str, Any] = {
    "uuid": RUN,
    "pipeline_uuid": PIPELINE,
    "project_uuid": PROJECT,
    "run_type": "full",
    "status": "STARTED",
    "created_time": WHEN,
    "started_time": WHEN,
    "pipeline_steps": [
        STEP_VIEW,
        {**STEP_VIEW, "step_uuid": "train", "title": "Train", "file_path": "train.py"}
        | {"status": "STARTED", "finished_time": None, "exit_code": None, "artifacts": []},
    ],
}
JOB_VIEW: dict[str, Any] = {
    "uuid": JOB,
    "name": "nightly",
    "pipeline_uuid": PIPELINE,
    "project_uuid": PROJECT,
    "project_dir": PROJECT_DIR,
    "snapshot_dir": f"/home/ada/orchest/jobs/{JOB}/snapshot",
    "pipeline_run_spec": {"run_type": "full", "uuids": []},
    "parameters": [{"pipeline_parameters": {"seed": 1}}, {"pipeline_parameters": {"seed": 2}}],
    "env_variables": {},
    "status": "STARTED",
    "cron_schedule": "0 3 * * *",
    "next_scheduled_time": "2026-05-05T03:00:00Z",
    "last_scheduled_time": "2026-05-04T03:00:00Z",
    "total_scheduled_executions": 4,
    "max_retained_pipeline_runs": 10,
    "max_parallel_runs": 2,
    "created_time": "2026-05-01T12:00:00Z",
    "run_counts": {"SUCCESS": 7, "STARTED": 1},
}
SESSION_VIEW: dict[str, Any] = {
    "uuid": SESSION,
    "project_uuid": PROJECT,
    "pipeline_uuid": PIPELINE,
    "project_dir": PROJECT_DIR,
    "pipeline_path": "quickstart.orchest",
    "runtime": "process",
    "status": "RUNNING",
    "jupyter_url": "http://127.0.0.1:41807/",
    "jupyter_token": "5b0e9c1d7a2f4e38",
    "gateway_url": "http://127.0.0.1:41809",
    "details": {
        "processes": ["enterprise-gateway", "jupyter-server"],
        "services": [
            {"name": "tensorboard", "urls": ["http://127.0.0.1:6006/"], "state": "running"}
        ],
    },
    "created_time": WHEN,
    "updated_time": LATER,
}
PROJECT_VIEW: dict[str, Any] = {
    "uuid": PROJECT,
    "name": "quickstart",
    "path": PROJECT_DIR,
    "managed": True,
    "exists": True,
    "env_variables": {"DATA_URL": "file:///data/iris.csv"},
    "created_at": WHEN,
    "updated_at": WHEN,
}
PIPELINE_DOCUMENT: dict[str, Any] = {
    "project_uuid": PROJECT,
    "uuid": PIPELINE,
    "path": "quickstart.orchest",
    "etag": "3f2a9c0e7b1d",
    "definition": DEFINITION,
    "problems": [],
    "env_variables": {"SAMPLE": "0.1"},
}
FILE_ENTRY: dict[str, Any] = {
    "name": "train.py",
    "path": "train.py",
    "kind": "file",
    "size": 1432,
    "modified": WHEN,
}
FILE_CONTENT: dict[str, Any] = {
    "path": "train.py",
    "etag": "a81c03f5d2e4",
    "content": "import orchest\nprint(orchest.get_step_param('rows'))\n",
}

EXAMPLES: dict[type[BaseModel], Any] = {
    # -- request bodies ---------------------------------------------------------------
    CreateRun: {"project_uuid": PROJECT, "pipeline_uuid": PIPELINE, "run_type": "full"},
    CreateJob: {
        "name": "nightly",
        "project_uuid": PROJECT,
        "pipeline_uuid": PIPELINE,
        "parameters": [{"pipeline_parameters": {"seed": 1}}, {"pipeline_parameters": {"seed": 2}}],
        "schedule": {"cron_schedule": "0 3 * * *"},
        "max_retained_pipeline_runs": 10,
    },
    JobUpdate: {"cron_schedule": "30 2 * * *", "max_parallel_runs": 2},
    SessionLaunch: {"project_uuid": PROJECT, "pipeline_uuid": PIPELINE},
    CreateProject: {"name": "quickstart", "template": "quickstart"},
    ProjectChanges: {"name": "iris", "env_variables": {"DATA_URL": "file:///data/iris.csv"}},
    NewPipeline: {"path": "pipelines/train.orchest", "name": "train"},
    PipelineBody: DEFINITION,
    PipelineEnv: {"env_variables": {"SAMPLE": "0.1"}},
    NewStepFile: {"path": "clean.ipynb", "template": "notebook", "kernel": "python"},
    FileText: {"content": "import orchest\nprint(orchest.get_step_param('rows'))\n"},
    Move: {"source": "clean.ipynb", "destination": "steps/clean.ipynb"},
    # -- responses --------------------------------------------------------------------
    HealthReport: {
        "status": "ok",
        "services": [
            {
                "name": "scheduler",
                "up": True,
                "instances": [{"id": "Yk3pQ8", "version": "0.1.0", "host": "ada", "pid": 4711}],
            }
        ],
        "dependencies": [{"name": "nats", "up": True}, {"name": "postgres", "up": True}],
        "missing": [],
        "message": "every service has a live instance",
        "errors": [],
    },
    NewEnvironment: NEW_ENVIRONMENT,
    EnvironmentChanges: {"setup_script": "#!/bin/bash\npip install pandas==2.2.3\n"},
    EnvironmentView: ENVIRONMENT_VIEW,
    EnvironmentList: {"environments": [ENVIRONMENT_VIEW]},
    BuildView: BUILD_VIEW,
    BuildList: {"builds": [BUILD_VIEW]},
    RunView: RUN_VIEW,
    RunList: {"runs": [RUN_VIEW], "total": 1, "limit": 50, "offset": 0},
    StepView: STEP_VIEW,
    AttemptList: {
        "run_uuid": RUN,
        "attempts": [
            {
                "step_uuid": "train",
                "attempt": 1,
                "status": "FAILURE",
                "started_time": WHEN,
                "finished_time": LATER,
                "exit_code": 1,
                "error": "exited with code 1",
                "artifacts": [],
            },
            {
                "step_uuid": "train",
                "attempt": 2,
                "status": "STARTED",
                "started_time": LATER,
                "finished_time": None,
                "exit_code": None,
                "error": None,
                "artifacts": [],
            },
        ],
    },
    JobView: JOB_VIEW,
    JobList: {"jobs": [JOB_VIEW], "total": 1, "limit": 50, "offset": 0},
    SchedulePreview: {
        "cron_schedule": "0 2 * * *",
        "time_zone": "UTC",
        "next_times": ["2026-05-05T02:00:00Z", "2026-05-06T02:00:00Z", "2026-05-07T02:00:00Z"],
        "after": WHEN,
    },
    SessionView: SESSION_VIEW,
    SessionList: {"sessions": [SESSION_VIEW], "total": 1, "limit": 50, "offset": 0},
    ProjectView: PROJECT_VIEW,
    ProjectList: {"projects": [PROJECT_VIEW]},
    PipelineList: {
        "pipelines": [
            {
                "uuid": PIPELINE,
                "name": "quickstart",
                "path": "quickstart.orchest",
                "step_count": 2,
                "valid": True,
                "problems": [],
            }
        ],
        "duplicates": [],
        "truncated": False,
    },
    PipelineDocument: PIPELINE_DOCUMENT,
    FileList: {"path": "", "entries": [FILE_ENTRY], "truncated": False},
    FileContent: FILE_CONTENT,
    FileEntry: {**FILE_ENTRY, "path": "steps/clean.ipynb", "name": "clean.ipynb"},
}
