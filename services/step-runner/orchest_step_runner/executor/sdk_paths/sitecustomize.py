"""Put on a step's ``PYTHONPATH`` by the process executor when it runs steps
without their own file-system view: points the Orchest SDK's data directory,
fixed at ``/project-dir/...`` in the SDK, into the run's own project directory
(``ORCHEST_PROJECT_DIR``, read when ``orchest.config`` is imported: a warm
kernel is given it after its start). Then runs the ``sitecustomize`` it
shadows, if there is one."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

_HERE = os.path.dirname(os.path.abspath(__file__))
_MODULE = "orchest.config"


def _point_at_project(module: ModuleType) -> None:
    project_dir = os.environ.get("ORCHEST_PROJECT_DIR")
    if not project_dir:
        return
    config = module.Config
    root = os.path.join(project_dir, ".orchest")
    pipeline = os.path.join(root, "pipelines", config.PIPELINE_UUID or "")
    config.STEP_DATA_DIR = os.path.join(pipeline, "data", "{step_uuid}")
    config.STORE_SOCKET_NAME = os.path.join(root, "plasma.sock")


class _Loader(importlib.abc.Loader):
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self._inner.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        _point_at_project(module)


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name != _MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _Loader(spec.loader)
        return spec


sys.meta_path.insert(0, _Finder())


def _run_shadowed() -> None:
    others = [entry for entry in sys.path if os.path.abspath(entry or ".") != _HERE]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", others)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


_run_shadowed()
