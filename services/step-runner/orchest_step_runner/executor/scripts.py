"""How a script step runs: the program for its file type, as Orchest's runner
chose it, and the Python of the step's environment.

Orchest's runner (``runnable-shared/runner/run.py``) ran a step file by its
extension, lower-cased: ``.py`` with the Python of the environment (the
interpreter its kernel used, not the runner's own), ``.r`` with ``Rscript``,
``.sh`` with ``bash``, ``.jl`` with ``julia``, ``.js`` with ``node``, and a
file without an extension with ``bash``; any other extension failed the step.
The scheduler's validation refuses the others before a run starts
(``orchest_schemas.pipeline.STEP_FILE_EXTENSIONS``).

The process executor's environment is the runner's host: a ``.py`` step runs
with the interpreter of the Python kernelspec a Python notebook of the same
step would get (``kernel_choice``: the step's ``kernel.name`` first, then the
default kernel), its ``argv[0]`` read as jupyter_client reads it (``python``,
``python3``, ``python3.11``: the runner's own interpreter, as for the
kernel), with the kernelspec's ``env``. Blocking: it reads the kernelspec
directories.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import PurePath
from string import Template
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager

from .kernel_choice import USUAL_KERNELS, NoKernel, OfferedKernel, choose_kernel


@dataclass(frozen=True)
class ScriptType:
    """How a file type runs: ``program`` with the file as its argument."""

    program: str
    needs: str
    """What to install when ``program`` is missing."""
    files: str
    """How messages name the files of this type: ``.R steps``."""

    def missing(self, where: str = "") -> str:
        """The step's error when ``program`` is not there (``where``: `` in the image X``)."""
        return f"{self.program} not found{where}: install {self.needs} to run {self.files}"


PYTHON = ScriptType("python", "Python", ".py steps")
SCRIPT_TYPES: dict[str, ScriptType] = {
    ".py": PYTHON,
    ".r": ScriptType("Rscript", "R", ".R steps"),
    ".sh": ScriptType("bash", "bash", ".sh steps"),
    ".jl": ScriptType("julia", "Julia", ".jl steps"),
    ".js": ScriptType("node", "Node.js", ".js steps"),
    "": ScriptType("bash", "bash", "steps without a file extension"),
}
"""By lower-cased extension (``""``: none)."""


def script_type(file: PurePath) -> ScriptType | None:
    """How ``file`` runs; ``None``: not a script Orchest ran (a notebook, a ``.txt``)."""
    return SCRIPT_TYPES.get(file.suffix.lower())


def unsupported(file: PurePath) -> str:
    """The step's error for a file of no known type."""
    return f"unsupported step file type: {file.name}"


PYTHON_NOTEBOOK = {"kernelspec": {"language": "python"}}
"""The metadata of a Python notebook: its kernel is the environment's Python."""


@dataclass(frozen=True)
class EnvironmentPython:
    """The interpreter of the environment's Python kernel and its kernelspec's ``env``."""

    executable: str
    kernel: str
    """The kernelspec it comes from."""
    env: dict[str, str]

    def missing(self) -> str:
        return f"{self.executable} not found: the Python of the kernel {self.kernel!r}"

    def environment(self, base: dict[str, str]) -> dict[str, str]:
        """``base`` with the kernelspec's ``env`` over it, ``$NAME`` filled from
        ``base`` (as jupyter_client starts the kernel)."""
        filled = {k: Template(v).safe_substitute(base) for k, v in self.env.items()}
        return {**base, **filled}


def installed_specs() -> dict[str, dict[str, Any]]:
    """The kernelspecs of the runner's host, by name, as jupyter_client finds
    them (``JUPYTER_PATH``, the environment's prefix, ipykernel's own ``python3``)."""
    found = KernelSpecManager().get_all_specs()
    return {name: dict(entry["spec"]) for name, entry in found.items()}


def offered_kernels(specs: dict[str, dict[str, Any]]) -> list[OfferedKernel]:
    return [OfferedKernel(name, str(spec.get("language") or "")) for name, spec in specs.items()]


def environment_python(step_kernel: str, default_kernel: str) -> EnvironmentPython | None:
    """The Python a Python notebook of this step would run in; ``None`` when
    no Python kernelspec is installed (or its ``argv`` is empty)."""
    specs = installed_specs()
    usual = {**USUAL_KERNELS, "python": default_kernel}
    choice = choose_kernel(PYTHON_NOTEBOOK, step_kernel, offered_kernels(specs), usual=usual)
    if isinstance(choice, NoKernel):
        return None
    spec = specs[choice.name]
    argv = spec.get("argv") or []
    if not argv:
        return None
    env = spec.get("env") or {}
    return EnvironmentPython(
        kernel_executable(str(argv[0])), choice.name, {str(k): str(v) for k, v in env.items()}
    )


def kernel_executable(program: str) -> str:
    """A kernelspec's ``argv[0]`` as jupyter_client starts it: ``python``,
    ``python3``, ``python3.11`` (of the runner's version) are the runner's
    own interpreter."""
    major, minor = sys.version_info[:2]
    if program in {"python", f"python{major}", f"python{major}.{minor}"}:
        return sys.executable
    return program
