"""Step executors: run one step attempt and report how it ended (``docs/runs.md``)."""

from .base import ExecutionResult, OutputSink, StepExecutor
from .process import ProcessExecutor

__all__ = ["ExecutionResult", "OutputSink", "ProcessExecutor", "StepExecutor"]
