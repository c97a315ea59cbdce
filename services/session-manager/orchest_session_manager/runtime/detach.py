"""Start a command detached from its caller; print its pid.

``python -S detach.py LOG CWD COMMAND...``: starts COMMAND as the leader of a
new session (so no terminal or process-group signal of the caller reaches
it), output appended to LOG, in CWD, with this process's environment; prints
its pid and exits. COMMAND is then an orphan, adopted by init (or the
nearest subreaper): it outlives whoever asked for it, and nobody has to reap
it. Run as a script (stdlib only) so that it starts in milliseconds.
"""

from __future__ import annotations

import subprocess
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: detach.py LOG CWD COMMAND...", file=sys.stderr)
        return 2
    log_path, cwd, command = argv[0], argv[1], argv[2:]
    with open(log_path, "ab") as log:
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            print(f"cannot start {command[0]}: {exc}", file=sys.stderr)
            return 1
    print(proc.pid, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
