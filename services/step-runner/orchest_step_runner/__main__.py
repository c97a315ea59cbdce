import sys

from orchest_service.entry import run_main

from .service import build_definition
from .settings import RunnerSettings

if __name__ == "__main__":
    settings = RunnerSettings()
    sys.exit(run_main(build_definition(settings), settings))
