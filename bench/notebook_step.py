"""The one-cell notebook of figures 5 and 14 (``warm_kernels``), and the
floor: nbclient run by the bench."""

from __future__ import annotations

import time
from pathlib import Path

NOTEBOOK = {
    "nbformat": 4,
    "nbformat_minor": 5,
    "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
    },
    "cells": [
        {
            "cell_type": "code",
            "id": "c1",
            "metadata": {},
            "source": "print(1 + 1)",
            "outputs": [],
            "execution_count": None,
        }
    ],
}


def bare_nbclient(path: Path) -> float:
    """Seconds the bench takes to run the notebook itself with nbclient."""
    import nbformat
    from nbclient import NotebookClient

    t0 = time.perf_counter()
    notebook = nbformat.read(str(path), as_version=4)  # type: ignore[no-untyped-call]
    NotebookClient(
        notebook, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    return time.perf_counter() - t0
