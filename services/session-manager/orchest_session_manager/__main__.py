import sys

from orchest_service.entry import await_start_env, run_main

from .service import build_definition
from .settings import SessionManagerSettings

if __name__ == "__main__":
    await_start_env()
    settings = SessionManagerSettings()
    sys.exit(run_main(build_definition(settings), settings))
