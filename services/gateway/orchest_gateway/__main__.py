import sys

from orchest_service.entry import run_main

from .service import build_definition
from .settings import GatewaySettings

if __name__ == "__main__":
    settings = GatewaySettings()
    sys.exit(run_main(build_definition(settings), settings))
