import sys

from orchest_runtime.entry import run_main
from orchest_runtime.settings import ServiceSettings

from .service import build_definition

if __name__ == "__main__":
    sys.exit(run_main(build_definition(), ServiceSettings()))
