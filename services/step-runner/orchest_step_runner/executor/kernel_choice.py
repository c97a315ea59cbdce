"""Which Jupyter kernel a notebook step runs in: a pure rule, shared by both
executors.

Orchest ran a notebook in the kernel of its own language: its runner read the
notebook's ``metadata.kernelspec.language`` and mapped it to the kernel of the
step's environment image (``python`` to ``python3``, ``r`` to ``ir``,
``julia`` to ``julia-<version>``); a language it had no kernel for failed the
step. The step's ``kernel`` in the pipeline file (``{"name": "python"}``,
``{"name": "ir"}``) is what Orchest's editor wrote for the step's environment;
the runner did not read it.

Here, likewise, the notebook's language decides, and the step's kernel only
when the notebook does not say. The language is the first of: the
notebook's ``kernelspec.language``, its ``language_info.name``, the language
of its ``kernelspec.name``, the language of the step's ``kernel.name``
(a name's language: the offered kernelspec of that name says it, else the
name's form: ``python``, ``python3``: Python; ``ir``: R; ``julia-1.9``:
Julia...), else Python. Among the kernels the environment offers for that
language, the step's ``kernel.name`` is taken first, then the notebook's
``kernelspec.name``, then the usual one (``python3``, ``ir``), then the first
by name. When none is offered the step fails before any kernel starts,
naming the language and what is offered.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_LANGUAGE = "python"
"""When neither the notebook nor the step says: Orchest's default environments'."""

USUAL_KERNELS = {"python": "python3", "r": "ir", "javascript": "javascript"}
"""Orchest's runner's kernel for each language (its Julia kernel's name had
the Julia version: any ``julia-*`` kernel is taken)."""

_LANGUAGE_ALIASES = {
    "python2": "python",
    "python3": "python",
    "ipython": "python",
    "ipython3": "python",
    "ir": "r",
    "js": "javascript",
    "node": "javascript",
}
_DISPLAY = {"python": "Python", "r": "R", "julia": "Julia", "javascript": "JavaScript"}
_NAME_FORMS = (
    (re.compile(r"python\d*(\.\d+)*"), "python"),
    (re.compile(r"i?r"), "r"),
    (re.compile(r"julia(-[\w.]+)?"), "julia"),
    (re.compile(r"i?javascript"), "javascript"),
    (re.compile(r"bash"), "bash"),
)
"""Kernel names that tell their language (``orchest-kernel-<uuid>``, one per
Orchest environment, does not: the notebook's kernelspec says it)."""


@dataclass(frozen=True)
class OfferedKernel:
    """A kernel the step's environment can start: its kernelspec name and the
    kernelspec's ``language``."""

    name: str
    language: str


@dataclass(frozen=True)
class KernelChoice:
    """The kernelspec to start and the notebook's language (lower case)."""

    name: str
    language: str


@dataclass(frozen=True)
class NoKernel:
    """No offered kernel runs the notebook's language: why, for the step's error."""

    language: str
    source: str
    offered: tuple[OfferedKernel, ...]

    @property
    def message(self) -> str:
        available = ", ".join(
            f"{k.name} ({display_language(language_of_offer(k))})" for k in self.offered
        )
        return (
            f"no Jupyter kernel for {display_language(self.language)} ({self.source}); "
            f"kernels available: {available or 'none'}"
        )


def canonical_language(text: str) -> str:
    """``Python``, ``python3`` -> ``python``; ``R`` -> ``r``; others lower case."""
    lowered = text.strip().lower()
    return _LANGUAGE_ALIASES.get(lowered, lowered)


def display_language(language: str) -> str:
    """How errors name a language: ``R``, ``Julia``, ``Python``."""
    return _DISPLAY.get(language, language)


def language_of_name(name: str) -> str | None:
    """The language a kernel name's form tells, if it does."""
    lowered = name.strip().lower()
    for pattern, language in _NAME_FORMS:
        if pattern.fullmatch(lowered):
            return language
    return None


def language_of_offer(kernel: OfferedKernel) -> str:
    """The kernelspec's ``language``, else its name's; empty when neither says."""
    if kernel.language.strip():
        return canonical_language(kernel.language)
    return language_of_name(kernel.name) or ""


@dataclass(frozen=True)
class KernelMetadata:
    """What a notebook's metadata says of its kernel."""

    spec_name: str = ""
    spec_language: str = ""
    info_language: str = ""

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any]) -> KernelMetadata:
        spec = metadata.get("kernelspec")
        info = metadata.get("language_info")
        spec = spec if isinstance(spec, Mapping) else {}
        info = info if isinstance(info, Mapping) else {}
        return cls(_text(spec.get("name")), _text(spec.get("language")), _text(info.get("name")))


def notebook_language(
    notebook: KernelMetadata, step_kernel: str, offered: Mapping[str, OfferedKernel]
) -> tuple[str, str]:
    """The notebook's language and where it was read (for errors)."""
    if notebook.spec_language:
        return canonical_language(notebook.spec_language), (
            f"the notebook's kernelspec language {notebook.spec_language!r}"
        )
    if notebook.info_language:
        return canonical_language(notebook.info_language), (
            f"the notebook's language_info {notebook.info_language!r}"
        )
    named = ((notebook.spec_name, "the notebook's kernelspec"), (step_kernel, "the step's kernel"))
    for name, whose in named:
        language = _language_of_named(name, offered)
        if language:
            return language, f"{whose} {name!r}"
    return DEFAULT_LANGUAGE, "no language given: the default"


def choose_kernel(
    metadata: Mapping[str, Any],
    step_kernel: str,
    offered: Iterable[OfferedKernel],
    *,
    usual: Mapping[str, str] = USUAL_KERNELS,
) -> KernelChoice | NoKernel:
    """The kernel for a notebook (its ``metadata``) of a step whose pipeline
    file names ``step_kernel``, among the ``offered`` kernels of its
    environment; ``NoKernel`` when none runs the notebook's language."""
    by_name = {kernel.name.lower(): kernel for kernel in offered}
    notebook = KernelMetadata.from_metadata(metadata)
    language, source = notebook_language(notebook, step_kernel, by_name)
    candidates = [k for k in by_name.values() if language_of_offer(k) == language]
    if not candidates:
        return NoKernel(language, source, tuple(sorted(by_name.values(), key=_by_name)))
    wanted = [step_kernel, notebook.spec_name, usual.get(language, "")]
    for name in wanted:
        kernel = by_name.get(name.lower()) if name else None
        if kernel is not None and kernel in candidates:
            return KernelChoice(kernel.name, language)
    return KernelChoice(min(candidates, key=_by_name).name, language)


def step_kernel_disagrees(choice: KernelChoice, step_kernel: str) -> bool:
    """The step's kernel names another language than the one chosen (the
    notebook's wins, as in Orchest): worth a warning."""
    stated = language_of_name(step_kernel)
    return stated is not None and stated != choice.language


def _language_of_named(name: str, offered: Mapping[str, OfferedKernel]) -> str | None:
    if not name:
        return None
    kernel = offered.get(name.lower())
    if kernel is not None and language_of_offer(kernel):
        return language_of_offer(kernel)
    return language_of_name(name)


def _by_name(kernel: OfferedKernel) -> str:
    return kernel.name


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
