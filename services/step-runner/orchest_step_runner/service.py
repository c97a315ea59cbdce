"""The step runner as a service: stateless, no database."""

from __future__ import annotations

from orchest_runtime.service import ServiceContext, ServiceDefinition
from orchest_schemas.bus import ServiceName

from .executor import ProcessExecutor, StepExecutor
from .runner import StepRunner
from .settings import RunnerSettings


def build_definition(
    settings: RunnerSettings, executor: StepExecutor | None = None
) -> ServiceDefinition:
    async def serve(ctx: ServiceContext) -> None:
        await StepRunner(ctx, settings, executor or ProcessExecutor()).serve()

    return ServiceDefinition(
        name=ServiceName.STEP_RUNNER,
        distribution="orchest-step-runner",
        description="Pulls step work by priority and executes it; reports status and logs.",
        serve=serve,
    )
