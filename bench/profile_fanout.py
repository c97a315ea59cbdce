"""Where the gateway's time goes under figure 11's load: a py-spy profile.

``python -m bench.profile_fanout [--clients 1000] [--gateways 1] [--out DIR]``
starts a stack, runs figure 11's chain once to warm up, then samples every
gateway process with py-spy (``make bench``'s group: ``uv run --group bench``)
while that many clients follow one run. It writes py-spy's raw (collapsed)
stacks, one file per gateway, and prints the functions holding the most
samples, by their own samples and with their callees. A sample is taken
whenever the process is not idle in its event loop's ``select``: on a loaded
machine that counts time waiting for a core too, not only CPU time.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import tempfile
from collections import Counter
from pathlib import Path

from . import sse_fanout
from .harness import Pipeline, project_dir, run_pipeline, running_stack

RATE = 250
"""Samples per second."""


def summary(raw: str, top: int = 25) -> str:
    """The functions of collapsed stacks with the most samples: own, and with callees."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        samples += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            total[frame] += n
    lines = [f"{samples} samples", "", "own samples:"]
    lines += [f"{n:6d} {frame}" for frame, n in own.most_common(top)]
    lines += ["", "with callees:"]
    lines += [f"{n:6d} {frame}" for frame, n in total.most_common(top)]
    return "\n".join(lines)


async def profile(clients: int, gateways: int, out: Path) -> None:
    async with running_stack(runners=2, gateways=gateways) as stack:
        chain = Pipeline(project_dir("profile"))
        for i in range(sse_fanout.STEPS):
            chain.add(f"f{i:02d}", "noop.sh", [f"f{i - 1:02d}"] if i else [])
        await run_pipeline(stack, chain.fresh())
        files = [out / f"gateway-{pid}.txt" for pid in stack.pids("gateway")]
        spies = [
            await asyncio.create_subprocess_exec(
                *("py-spy", "record", "--pid", str(pid), "--rate", str(RATE), "--nonblocking"),
                *("--format", "raw", "--output", str(path)),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            for pid, path in zip(stack.pids("gateway"), files, strict=True)
        ]
        try:
            result = await sse_fanout._audience(stack, chain.fresh(), clients)
        finally:
            for spy in spies:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file and exits
            for spy in spies:
                await spy.wait()
    print(sse_fanout._figure(result).value, "\n")
    for path in files:
        print(f"{path}:\n{summary(path.read_text())}\n")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_fanout")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--gateways", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="orchest-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    asyncio.run(profile(args.clients, args.gateways, out))


if __name__ == "__main__":
    main()
