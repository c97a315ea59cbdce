import sys

from orchest_service.entry import await_start_env, run_main

from .service import build_definition
from .settings import SchedulerSettings

if __name__ == "__main__":
    await_start_env()
    settings = SchedulerSettings()
    sys.exit(run_main(build_definition(settings), settings))
