"""The Orchest pipeline definition (``pipeline.json`` / ``*.orchest``),
``docs/projects.md#pipelines``.

Orchest files load unchanged: every model keeps the fields it does not know
(``extra="allow"``), so a definition read and written back loses nothing, and
fields Orchest added over the years never cause an error. Only the shape is
checked here; the meaning (connections to unknown steps, cycles, file paths
inside the project) is the scheduler's validation, which lists every problem.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveFloat,
    PositiveInt,
    StrictInt,
)

INT32_MAX = 2**31 - 1
"""Counts are stored in 32-bit columns: larger ones are refused with the input."""
MAX_RETRIES = 1000

Retries = Annotated[int, Field(ge=0, le=MAX_RETRIES)]
"""Attempts after the first: a few in practice; a bound keeps the backoff finite."""


STEP_FILE_EXTENSIONS = frozenset({".ipynb", ".py", ".r", ".sh", ".jl", ".js", ""})
"""The step file types Orchest ran, by lower-cased extension: notebooks, and
scripts with Python, ``Rscript``, bash, Julia and Node; ``""``, a file
without an extension, ran with bash. The scheduler refuses the others; the
step runner runs these (``executor/scripts.py``)."""


class _OrchestModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


class Kernel(_OrchestModel):
    """The Jupyter kernel a notebook step runs in (``kernel.name`` picks the kernelspec)."""

    name: str = "python"
    display_name: str | None = None


class StepMetadata(_OrchestModel):
    """UI metadata of a step: kept as it is, never interpreted by the backend."""

    hidden: bool = False
    position: list[StrictInt | float] = Field(default_factory=list)
    """Kept as written: ``[144, 342]`` stays integers when written back."""


class PipelineStep(_OrchestModel):
    """One step: a notebook, Python, shell or R file of the project."""

    uuid: str
    title: str = ""
    file_path: str
    incoming_connections: list[str] = Field(default_factory=list)
    environment: str = ""
    kernel: Kernel = Field(default_factory=Kernel)
    parameters: dict[str, Any] = Field(default_factory=dict)
    meta_data: StepMetadata = Field(default_factory=StepMetadata)
    # Beyond Orchest: per-step overrides of the pipeline settings.
    timeout_seconds: PositiveFloat | None = None
    retries: Retries | None = None


class PipelineSettings(_OrchestModel):
    """Pipeline-wide settings. Orchest's own (``auto_eviction``,
    ``data_passing_memory_size``) are kept; the rest are ours."""

    auto_eviction: bool = False
    data_passing_memory_size: str | None = None
    max_steps_parallelism: Annotated[int, Field(ge=0, le=INT32_MAX)] = 0
    """0 means no limit beyond the runners' slots."""
    fail_fast: bool = False
    timeout_seconds: PositiveFloat | None = None
    retries: Retries = 0
    retry_backoff_seconds: PositiveFloat = 1.0
    max_lost_leases: Annotated[int, Field(ge=1, le=MAX_RETRIES)] = 3
    """A step whose runner is lost (its lease lapsed) this many times fails
    with that reason; before, each loss re-runs it as the next attempt."""


class PipelineService(_OrchestModel):
    """A service container declared by the pipeline (Orchest's ``services`` block)."""

    name: str = ""
    image: str = ""
    command: str | None = None
    args: str | None = None
    entrypoint: str | None = None
    binds: dict[str, str] = Field(default_factory=dict)
    env_variables: dict[str, str] = Field(default_factory=dict)
    env_variables_inherit: list[str] = Field(default_factory=list)
    ports: list[PositiveInt] = Field(default_factory=list)
    preserve_base_path: bool = False
    requires_authentication: bool = True
    scope: list[str] = Field(default_factory=list)
    exposed: bool = False
    order: int | None = None


class PipelineDefinition(_OrchestModel):
    """A whole pipeline: ``steps`` maps each step's uuid to the step."""

    uuid: str
    name: str = ""
    version: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    settings: PipelineSettings = Field(default_factory=PipelineSettings)
    services: dict[str, PipelineService] = Field(default_factory=dict)
    steps: dict[str, PipelineStep] = Field(default_factory=dict)
