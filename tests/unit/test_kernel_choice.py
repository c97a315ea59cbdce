"""The kernel a notebook step runs in (``executor/kernel_choice.py``): the
notebook's language decides, the step's kernel when the notebook does not
say; a language without a kernel is refused, naming it and what is offered."""

from __future__ import annotations

from typing import Any

import pytest

from orchest_step_runner.executor.kernel_choice import (
    KernelChoice,
    NoKernel,
    OfferedKernel,
    canonical_language,
    choose_kernel,
    language_of_name,
    step_kernel_disagrees,
)

PYTHON3 = OfferedKernel("python3", "python")
PYTHON = OfferedKernel("python", "python")
IR = OfferedKernel("ir", "R")
JULIA_19 = OfferedKernel("julia-1.9", "julia")
JULIA_110 = OfferedKernel("julia-1.10", "julia")
ORCHEST_PY = OfferedKernel("orchest-kernel-6b1d", "python")
HOST = (PYTHON3,)
"""What this project's hosts and its step image offer."""
EVERYTHING = (PYTHON3, PYTHON, IR, JULIA_19, JULIA_110, ORCHEST_PY)


def meta(
    name: str | None = None, language: str | None = None, info: str | None = None
) -> dict[str, Any]:
    """Notebook metadata: ``kernelspec`` with ``name``/``language``, ``language_info.name``."""
    metadata: dict[str, Any] = {}
    spec = {k: v for k, v in (("name", name), ("language", language)) if v is not None}
    if spec:
        metadata["kernelspec"] = {"display_name": "x", **spec}
    if info is not None:
        metadata["language_info"] = {"name": info}
    return metadata


@pytest.mark.parametrize(
    ("metadata", "step_kernel", "offered", "expected"),
    [
        # Orchest's pipeline files: the step's kernel "python", the notebook's python3.
        (meta("python3", "python"), "python", HOST, KernelChoice("python3", "python")),
        (meta("python", "python"), "python", HOST, KernelChoice("python3", "python")),
        # A kernelspec named "python" is itself, not python3.
        (meta("python", "python"), "python", EVERYTHING, KernelChoice("python", "python")),
        # Orchest's per-environment kernels are Python when their language says so.
        (meta("orchest-kernel-6b1d", "python"), "python", HOST, KernelChoice("python3", "python")),
        (
            meta("orchest-kernel-6b1d", "python"),
            "orchest-kernel-6b1d",
            EVERYTHING,
            KernelChoice("orchest-kernel-6b1d", "python"),
        ),
        # The step names an installed kernel of the notebook's language: that one.
        (
            meta("python3", "python"),
            "orchest-kernel-6b1d",
            EVERYTHING,
            KernelChoice(ORCHEST_PY.name, "python"),
        ),
        # The notebook's language wins over the step's kernel (Orchest read only the notebook's).
        (meta("python3", "python"), "ir", EVERYTHING, KernelChoice("python3", "python")),
        (meta("ir", "R"), "python", EVERYTHING, KernelChoice("ir", "r")),
        # R as Orchest wrote it: kernelspec "ir", language "R"; the step's kernel "ir".
        (meta("ir", "R", "R"), "ir", EVERYTHING, KernelChoice("ir", "r")),
        # Julia: the notebook's own version if offered, else the first julia-*.
        (meta("julia-1.9", "julia"), "julia", EVERYTHING, KernelChoice("julia-1.9", "julia")),
        (meta("julia-1.7", "julia"), "julia", EVERYTHING, KernelChoice("julia-1.10", "julia")),
        # language_info when the kernelspec has no language; then the kernelspec's name.
        (
            meta("something", info="julia"),
            "python",
            EVERYTHING,
            KernelChoice("julia-1.10", "julia"),
        ),
        (meta("ir"), "python", EVERYTHING, KernelChoice("ir", "r")),
        (meta("julia-1.9"), "python", EVERYTHING, KernelChoice("julia-1.9", "julia")),
        # An installed kernelspec's own language tells what its name does not.
        (meta("orchest-kernel-6b1d"), "ir", EVERYTHING, KernelChoice(ORCHEST_PY.name, "python")),
        # Nothing in the notebook: the step's kernel; nothing at all: Python.
        ({}, "ir", EVERYTHING, KernelChoice("ir", "r")),
        ({}, "python", HOST, KernelChoice("python3", "python")),
        ({}, "no-such-kernel", HOST, KernelChoice("python3", "python")),
        (
            meta("orchest-kernel-0000"),
            "orchest-kernel-0000",
            HOST,
            KernelChoice("python3", "python"),
        ),
        # Case does not matter (Jupyter's kernel names are case-insensitive).
        (meta("IR", "r"), "IR", EVERYTHING, KernelChoice("ir", "r")),
        (meta("python3", "Python"), "python", HOST, KernelChoice("python3", "python")),
    ],
)
def test_the_chosen_kernel(
    metadata: dict[str, Any],
    step_kernel: str,
    offered: tuple[OfferedKernel, ...],
    expected: KernelChoice,
) -> None:
    assert choose_kernel(metadata, step_kernel, offered) == expected


def test_the_usual_python_kernel_is_a_setting() -> None:
    offered = (PYTHON3, OfferedKernel("py311", "python"))
    usual = {"python": "py311"}
    assert choose_kernel(meta("python3", "python"), "python", offered, usual=usual) == (
        KernelChoice("python3", "python")
    )
    assert choose_kernel({}, "python", offered, usual=usual) == KernelChoice("py311", "python")


@pytest.mark.parametrize(
    ("metadata", "step_kernel", "message"),
    [
        (
            meta("ir", "R", "R"),
            "ir",
            "no Jupyter kernel for R (the notebook's kernelspec language 'R'); "
            "kernels available: python (Python), python3 (Python)",
        ),
        (
            meta("ir", "R"),
            "python",
            "no Jupyter kernel for R (the notebook's kernelspec language 'R'); "
            "kernels available: python (Python), python3 (Python)",
        ),
        (
            meta("julia-1.9", info="julia"),
            "python",
            "no Jupyter kernel for Julia (the notebook's language_info 'julia'); "
            "kernels available: python (Python), python3 (Python)",
        ),
        (
            meta("julia-1.9"),
            "python",
            "no Jupyter kernel for Julia (the notebook's kernelspec 'julia-1.9'); "
            "kernels available: python (Python), python3 (Python)",
        ),
        (
            {},
            "ir",
            "no Jupyter kernel for R (the step's kernel 'ir'); "
            "kernels available: python (Python), python3 (Python)",
        ),
        (
            meta("sos", "SoS"),
            "python",
            "no Jupyter kernel for sos (the notebook's kernelspec language 'SoS'); "
            "kernels available: python (Python), python3 (Python)",
        ),
    ],
)
def test_a_language_without_a_kernel_is_refused(
    metadata: dict[str, Any], step_kernel: str, message: str
) -> None:
    refused = choose_kernel(metadata, step_kernel, (PYTHON3, PYTHON))
    assert isinstance(refused, NoKernel)
    assert refused.message == message


def test_nothing_offered_says_so() -> None:
    refused = choose_kernel(meta("python3", "python"), "python", ())
    assert isinstance(refused, NoKernel)
    assert refused.message.endswith("kernels available: none")


def test_an_offered_kernel_without_a_language_counts_by_its_name() -> None:
    offered = (OfferedKernel("ir", ""), OfferedKernel("mystery", ""))
    assert choose_kernel(meta("ir", "R"), "ir", offered) == KernelChoice("ir", "r")
    refused = choose_kernel(meta("python3", "python"), "python", offered)
    assert isinstance(refused, NoKernel)
    assert refused.message.endswith("kernels available: ir (R), mystery ()")


@pytest.mark.parametrize(
    "metadata",
    [
        {"kernelspec": "python3"},  # not a mapping: ignored
        {"kernelspec": {"name": 3, "language": None}},
        {"language_info": ["python"]},
    ],
)
def test_malformed_metadata_is_ignored(metadata: dict[str, Any]) -> None:
    assert choose_kernel(metadata, "python", HOST) == KernelChoice("python3", "python")


@pytest.mark.parametrize(
    ("name", "language"),
    [
        ("python", "python"),
        ("python3", "python"),
        ("Python3.11", "python"),
        ("python2", "python"),
        ("ir", "r"),
        ("R", "r"),
        ("julia", "julia"),
        ("julia-1.7", "julia"),
        ("julia-1.10", "julia"),
        ("javascript", "javascript"),
        ("bash", "bash"),
        ("orchest-kernel-6b1d4c3e", None),
        ("pythonista", None),
        ("irkernel-ish", None),
        ("", None),
    ],
)
def test_the_language_a_kernel_name_tells(name: str, language: str | None) -> None:
    assert language_of_name(name) == language


@pytest.mark.parametrize(
    ("text", "language"),
    [("Python", "python"), ("python3", "python"), (" R ", "r"), ("Julia", "julia"), ("SoS", "sos")],
)
def test_canonical_languages(text: str, language: str) -> None:
    assert canonical_language(text) == language


@pytest.mark.parametrize(
    ("step_kernel", "language", "disagrees"),
    [
        ("ir", "python", True),
        ("python", "r", True),
        ("python", "python", False),
        ("orchest-kernel-6b1d", "r", False),  # says nothing
        ("julia-1.9", "julia", False),
    ],
)
def test_a_step_kernel_of_another_language_is_noticed(
    step_kernel: str, language: str, disagrees: bool
) -> None:
    assert step_kernel_disagrees(KernelChoice("k", language), step_kernel) is disagrees
