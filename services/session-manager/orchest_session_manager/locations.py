"""Where a session's project and pipeline are: as the launch gives them, or
asked of the projects owner (the scheduler) for a project the stack knows."""

from __future__ import annotations

from nats.aio.client import Client

from orchest_schemas.bus import BusNames
from orchest_schemas.commands import LaunchSession
from orchest_schemas.projects import GetPipeline, GetProject, PipelineDocument, ProjectView
from orchest_service.commands import request_command


async def locate(
    nc: Client, bus: BusNames, command: LaunchSession, timeout: float
) -> tuple[str, str]:
    """The project folder and the pipeline file's path in it; a project or
    pipeline the owner does not know is its ``CommandError`` (404)."""
    if command.project_dir is not None and command.pipeline_path is not None:
        return command.project_dir, command.pipeline_path
    project = await request_command(
        nc,
        bus.project_command("get"),
        GetProject(project_uuid=command.project_uuid),
        ProjectView,
        timeout=timeout,
    )
    pipeline = await request_command(
        nc,
        bus.project_command("pipelines.get"),
        GetPipeline(project_uuid=command.project_uuid, pipeline_uuid=command.pipeline_uuid),
        PipelineDocument,
        timeout=timeout,
    )
    return command.project_dir or project.path, command.pipeline_path or pipeline.path
