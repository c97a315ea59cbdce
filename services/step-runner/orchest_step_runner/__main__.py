import sys

from orchest_service.entry import run_main

from .service import build_definition, watch_children_by_pidfd
from .settings import RunnerSettings

if __name__ == "__main__":
    settings = RunnerSettings()
    watch_children_by_pidfd()
    sys.exit(run_main(build_definition(settings), settings))
