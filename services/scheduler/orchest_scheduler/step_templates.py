"""New step files: what each template writes (pure).

Each reads the step's parameters the way its language can: Python through
the Orchest SDK (as Orchest's own templates did), a shell script and an R
script from ``ORCHEST_PARAMETERS`` (JSON: the pipeline's parameters
overridden by the step's), a notebook through the SDK in its first cell.
"""

from __future__ import annotations

import json

from orchest_schemas.projects import StepTemplate

SUFFIXES: dict[StepTemplate, tuple[str, ...]] = {
    "notebook": (".ipynb",),
    "python": (".py",),
    "shell": (".sh",),
    "r": (".R", ".r"),
}

PYTHON = '''"""A pipeline step."""
import orchest
from orchest.parameters import get_params

# This step's parameters and the pipeline's, as set in the pipeline
# (one by name: orchest.get_step_param("name"), orchest.get_pipeline_param("name")).
step_parameters, pipeline_parameters = get_params()
# The outputs of the steps connected to this one, by name (each of them
# must have called orchest.output, else this raises OutputNotFoundError):
# inputs = orchest.get_inputs()

# orchest.output(value, name="result") passes a value to the next steps.
'''

SHELL = """#!/usr/bin/env bash
# A pipeline step. ORCHEST_PARAMETERS holds its parameters as JSON (the
# pipeline's, overridden by the step's).
set -euo pipefail

echo "parameters: ${ORCHEST_PARAMETERS:-none}"
"""

R = """# A pipeline step. ORCHEST_PARAMETERS holds its parameters as JSON (the
# pipeline's, overridden by the step's).
parameters <- Sys.getenv("ORCHEST_PARAMETERS", "{}")
cat("parameters:", parameters, "\\n")
"""

KERNEL_LANGUAGES = {"ir": "R", "python": "python", "python3": "python"}


def suffix_problem(template: StepTemplate, path: str) -> str | None:
    """Why ``path`` does not suit ``template`` (its extension), or None."""
    allowed = SUFFIXES[template]
    if path.endswith(allowed):
        return None
    return f"a {template} step file's name ends with {' or '.join(allowed)}"


def notebook(kernel: str) -> str:
    language = KERNEL_LANGUAGES.get(kernel, "R" if kernel.startswith("ir") else "python")
    # A Python cell without the module docstring.
    first = PYTHON.split("\n", 1)[1] if language == "python" else R
    document = {
        "cells": [
            {
                "cell_type": "code",
                "id": "step-header",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": first.splitlines(keepends=True),
            }
        ],
        "metadata": {
            "kernelspec": {"name": kernel, "display_name": kernel, "language": language},
            "language_info": {"name": language},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    return json.dumps(document, indent=1) + "\n"


def content(template: StepTemplate, kernel: str | None) -> str:
    if template == "notebook":
        return notebook(kernel or "python3")
    return {"python": PYTHON, "shell": SHELL, "r": R}[template]
