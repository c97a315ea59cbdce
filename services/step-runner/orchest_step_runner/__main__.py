import sys

from orchest_service.entry import await_start_env, run_main

from .service import build_definition, watch_children_by_pidfd
from .settings import RunnerSettings

if __name__ == "__main__":
    await_start_env()
    settings = RunnerSettings()
    if settings.event_loop == "asyncio":  # uvloop follows its children itself
        watch_children_by_pidfd()
    sys.exit(run_main(build_definition(settings), settings))
