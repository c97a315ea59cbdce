"""A figure of the benchmark, and the table printed and written to docs."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

MS = 1000.0
"""Seconds to milliseconds, as the figures print them."""


@dataclass(frozen=True)
class Figure:
    name: str
    value: str
    """What we measured (median, with p99 where it matters)."""
    floor: str
    """The floor, measured in the same run."""
    ratio: float | None
    """value / floor (or floor / value for rates: always "how many floors")."""
    target: str
    met: bool | None
    how: str

    @classmethod
    def bounded(
        cls,
        *,
        name: str,
        value: str,
        floor: str,
        ratio: float | None,
        how: str,
        at_most: float | None = None,
        at_least: float | None = None,
        note: str = "",
    ) -> Figure:
        """A figure whose target is a bound on its ratio (``at_most`` for a
        time, ``at_least`` for a rate): the target's text and ``met`` say the
        same bound; ``note`` adds to the text (what the floor is, a moonshot)."""
        if (at_most is None) == (at_least is None):
            raise ValueError("a bounded figure takes one of at_most and at_least")
        if at_most is not None:
            target, met = f"<= {at_most:g}x", ratio is not None and ratio <= at_most
        else:
            assert at_least is not None
            target, met = f">= {at_least:g}x", ratio is not None and ratio >= at_least
        return cls(name, value, floor, ratio, target + note, met, how)


def machine() -> str:
    cpus = len(__import__("os").sched_getaffinity(0))
    return (
        f"{platform.node()}, {platform.machine()}, {cpus} CPUs, Python {platform.python_version()}"
    )


def table(figures: Sequence[Figure]) -> str:
    lines = [
        "| figure | measured | floor (same run) | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for f in figures:
        ratio = f"{f.ratio:.2f}x" if f.ratio is not None else "-"
        met = {True: "yes", False: "**no**", None: "-"}[f.met]
        lines.append(f"| {f.name} | {f.value} | {f.floor} | {ratio} | {f.target} | {met} |")
    return "\n".join(lines)


def write_docs(path: Path, figures: Sequence[Figure], seconds: float) -> None:
    """Replace the generated section of ``docs/performance.md``."""
    begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    hows = "\n".join(f"- **{f.name}**: {f.how}" for f in figures)
    section = (
        f"{begin}\n"
        f"Last run: {when} on {machine()}; `make bench` took {seconds:.0f} s.\n\n"
        f"{table(figures)}\n\nHow each figure is measured:\n\n{hows}\n{end}"
    )
    text = path.read_text() if path.exists() else ""
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1]
        text = head + section + tail
    else:
        text = text.rstrip() + "\n\n## Benchmark\n\n" + section + "\n"
    path.write_text(text)
