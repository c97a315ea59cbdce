"""The pipeline definition model against real-shaped Orchest pipeline files.

Orchest files must load unchanged and be written back without losing a key,
including keys this model does not know; shape errors must list every location.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from orchest_schemas.pipeline import (
    Kernel,
    PipelineDefinition,
    PipelineService,
    PipelineSettings,
    PipelineStep,
    StepMetadata,
)

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "pipelines"
PIPELINE_FILES = sorted(
    p for p in DATA_DIR.iterdir() if p.suffix == ".orchest" or p.name == "pipeline.json"
)


def _raw(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _load(path: Path) -> PipelineDefinition:
    return PipelineDefinition.model_validate_json(path.read_bytes())


def _assert_contains(original: Any, dumped: Any, where: str = "$") -> None:
    """Every key and value of ``original`` is in ``dumped``, recursively."""
    if isinstance(original, dict):
        assert isinstance(dumped, dict), where
        for key, value in original.items():
            assert key in dumped, f"{where}.{key} lost"
            _assert_contains(value, dumped[key], f"{where}.{key}")
    elif isinstance(original, list):
        assert isinstance(dumped, list), where
        assert len(original) == len(dumped), where
        for i, (a, b) in enumerate(zip(original, dumped, strict=True)):
            _assert_contains(a, b, f"{where}[{i}]")
    else:
        assert original == dumped, f"{where}: {original!r} != {dumped!r}"


def _locs(exc: ValidationError) -> set[tuple[str | int, ...]]:
    return {tuple(e["loc"]) for e in exc.errors()}


FILE_IDS = [p.name for p in PIPELINE_FILES]


def test_data_set_is_present_and_varied() -> None:
    # Guards the parametrised tests below against silently running on nothing.
    assert 4 <= len(PIPELINE_FILES) <= 6
    assert {p.suffix for p in PIPELINE_FILES} == {".orchest", ".json"}


# -- loading and round trip -------------------------------------------------------------


@pytest.mark.parametrize("path", PIPELINE_FILES, ids=FILE_IDS)
def test_file_loads_with_its_steps_and_services(path: Path) -> None:
    raw = _raw(path)
    definition = _load(path)

    assert definition.uuid == raw["uuid"]
    assert definition.name == raw["name"]
    assert definition.version == raw["version"]
    assert definition.parameters == raw["parameters"]
    assert list(definition.steps) == list(raw["steps"])
    for key, raw_step in raw["steps"].items():
        step = definition.steps[key]
        assert isinstance(step, PipelineStep)
        assert step.uuid == key
        assert step.title == raw_step["title"]
        assert step.file_path == raw_step["file_path"]
        assert step.incoming_connections == raw_step["incoming_connections"]
        assert step.environment == raw_step["environment"]
        assert step.kernel.name == raw_step["kernel"]["name"]
        assert step.kernel.display_name == raw_step["kernel"]["display_name"]
        assert step.parameters == raw_step["parameters"]
        assert step.meta_data.hidden is raw_step["meta_data"]["hidden"]
        assert step.meta_data.position == raw_step["meta_data"]["position"]
    assert list(definition.services) == list(raw["services"])
    for key, raw_service in raw["services"].items():
        service = definition.services[key]
        assert service.name == raw_service["name"]
        assert service.image == raw_service["image"]
        assert service.ports == raw_service["ports"]
        assert service.scope == raw_service["scope"]
    assert definition.settings.auto_eviction is raw["settings"]["auto_eviction"]
    assert (
        definition.settings.data_passing_memory_size == raw["settings"]["data_passing_memory_size"]
    )


@pytest.mark.parametrize("path", PIPELINE_FILES, ids=FILE_IDS)
def test_round_trip_with_exclude_unset_gives_back_the_file(path: Path) -> None:
    """``exclude_unset=True`` is what makes the round trip exact: only the keys
    the file had (known or not) come back, with their values."""
    raw = _raw(path)
    definition = _load(path)

    assert definition.model_dump(mode="json", by_alias=True, exclude_unset=True) == raw
    assert json.loads(definition.model_dump_json(exclude_unset=True)) == raw
    # And reading the written form again gives the same model.
    again = PipelineDefinition.model_validate_json(definition.model_dump_json(exclude_unset=True))
    assert again == definition


@pytest.mark.parametrize("path", PIPELINE_FILES, ids=FILE_IDS)
def test_full_dump_keeps_every_original_key_and_value(path: Path) -> None:
    """A full dump (what a message carrying the definition sends) adds the
    defaults but never drops or changes a key of the file."""
    raw = _raw(path)
    dumped = _load(path).model_dump(mode="json")
    _assert_contains(raw, dumped)


def test_full_dump_adds_defaults_so_exclude_unset_is_needed_for_exactness() -> None:
    path = DATA_DIR / "california-housing.orchest"
    raw = _raw(path)
    dumped = _load(path).model_dump(mode="json")
    assert dumped != raw
    first_step = next(iter(dumped["steps"].values()))
    assert first_step["retries"] is None
    assert first_step["timeout_seconds"] is None
    assert dumped["settings"]["max_steps_parallelism"] == 0


def test_unknown_fields_at_every_level_are_kept() -> None:
    definition = _load(DATA_DIR / "plugin-extras.orchest")

    assert definition.model_extra == {"hash": "4f9a2c0d8e7b", "orchest_version": "v2022.10.0"}
    assert definition.settings.model_extra == {
        "notifications": {"on_failure": ["team@example.org"]},
        "x-gpu-pool": "a100",
    }
    assert definition.services["label-studio"].model_extra == {
        "healthcheck": {"path": "/health", "interval_seconds": 10}
    }
    ingest = definition.steps["3d387315-1b2a-4d96-b11b-0a38eb15e340"]
    assert ingest.model_extra == {
        "experiment_json": "",
        "image": "orchest/base-kernel-py:v2022.10.0",
    }
    assert ingest.kernel.model_extra == {"language": "python"}
    assert ingest.meta_data.model_extra == {"color": "#ffb347", "width": 220.5}
    label = definition.steps["9e8e1733-8ed5-4094-b598-c21f0646235a"]
    assert label.model_extra == {
        "plugin_data": {"labeler": {"project_id": 17, "tags": ["cats", "dogs"], "enabled": True}}
    }
    assert label.kernel.model_extra == {}


def test_our_settings_and_step_overrides_are_read() -> None:
    definition = _load(DATA_DIR / "feature-fan-out.orchest")

    settings = definition.settings
    assert settings.auto_eviction is True
    assert settings.data_passing_memory_size == "2GB"
    assert settings.max_steps_parallelism == 2
    assert settings.retries == 1
    assert settings.retry_backoff_seconds == 5.0
    assert settings.fail_fast is True
    assert settings.timeout_seconds is None

    steps = definition.steps
    assert steps["dd469db8-db37-4c88-8167-d6776fd5339d"].retries == 3
    assert steps["c6eced64-46bb-4c2a-9589-e7f0ccb92e49"].timeout_seconds == 900.0
    assert steps["6ad85804-483c-4f53-903a-8b4f345df4d2"].retries is None
    assert steps["6ad85804-483c-4f53-903a-8b4f345df4d2"].timeout_seconds is None
    merge = steps["e0448b6f-4deb-473c-af90-69b0425e8d64"]
    assert merge.incoming_connections == [
        "bf4d126e-488d-4c00-bc59-a684935f452c",
        "dd469db8-db37-4c88-8167-d6776fd5339d",
        "c6eced64-46bb-4c2a-9589-e7f0ccb92e49",
    ]


def test_services_block_is_read() -> None:
    services = _load(DATA_DIR / "pipeline.json").services

    assert list(services) == ["tensorboard", "streamlit", "postgres"]
    tensorboard = services["tensorboard"]
    assert tensorboard.command == "bash"
    assert tensorboard.binds == {"/data": "/data"}
    assert tensorboard.ports == [6006]
    assert tensorboard.preserve_base_path is True
    assert tensorboard.exposed is True
    assert tensorboard.order == 1
    streamlit = services["streamlit"]
    assert streamlit.image == "environment@7f40aa48-a08e-48c0-ab67-d4fc5c366c45"
    assert streamlit.requires_authentication is False
    assert streamlit.env_variables == {"STREAMLIT_THEME_BASE": "light"}
    assert streamlit.env_variables_inherit == ["MLFLOW_TRACKING_URI"]
    assert streamlit.scope == ["interactive"]
    postgres = services["postgres"]
    assert postgres.entrypoint == "docker-entrypoint.sh"
    assert postgres.command is None
    assert postgres.args is None


def test_r_and_shell_steps_keep_their_kernels_and_empty_environment() -> None:
    steps = _load(DATA_DIR / "r-and-shell.orchest").steps

    by_file = {s.file_path: s for s in steps.values()}
    assert by_file["clean.R"].kernel == Kernel(name="ir", display_name="R")
    assert by_file["plot.R"].kernel.name == "ir"
    assert by_file["fetch.sh"].environment == ""
    assert by_file["fetch.sh"].kernel.name == "python"
    assert by_file["publish.sh"].meta_data.hidden is True
    assert by_file["analysis/models.ipynb"].kernel.display_name == "R"


# -- defaults -----------------------------------------------------------------------------


MINIMAL: dict[str, Any] = {
    "uuid": "2fc19c76-f207-4fe6-8d0f-9b85af922c3d",
    "steps": {
        "87e0790f-d40d-4456-a435-40cb83ab29f5": {
            "uuid": "87e0790f-d40d-4456-a435-40cb83ab29f5",
            "file_path": "main.py",
        }
    },
    "services": {"web": {}},
}


def test_defaults_of_a_minimal_definition() -> None:
    definition = PipelineDefinition.model_validate(MINIMAL)

    assert definition.name == ""
    assert definition.version is None
    assert definition.parameters == {}
    assert definition.settings == PipelineSettings()
    assert definition.model_extra == {}


def test_defaults_of_settings() -> None:
    settings = PipelineDefinition.model_validate(MINIMAL).settings

    assert settings.auto_eviction is False
    assert settings.data_passing_memory_size is None
    assert settings.max_steps_parallelism == 0
    assert settings.fail_fast is False
    assert settings.timeout_seconds is None
    assert settings.retries == 0
    assert settings.retry_backoff_seconds == 1.0


def test_defaults_of_a_step() -> None:
    step = PipelineDefinition.model_validate(MINIMAL).steps["87e0790f-d40d-4456-a435-40cb83ab29f5"]

    assert step.title == ""
    assert step.incoming_connections == []
    assert step.environment == ""
    assert step.kernel == Kernel(name="python", display_name=None)
    assert step.parameters == {}
    assert step.meta_data == StepMetadata(hidden=False, position=[])
    assert step.timeout_seconds is None
    assert step.retries is None


def test_defaults_of_a_service() -> None:
    service = PipelineDefinition.model_validate(MINIMAL).services["web"]

    assert service == PipelineService()
    assert service.name == ""
    assert service.image == ""
    assert service.command is None
    assert service.args is None
    assert service.entrypoint is None
    assert service.binds == {}
    assert service.env_variables == {}
    assert service.env_variables_inherit == []
    assert service.ports == []
    assert service.preserve_base_path is False
    assert service.requires_authentication is True
    assert service.scope == []
    assert service.exposed is False
    assert service.order is None


def test_defaults_are_not_written_back() -> None:
    definition = PipelineDefinition.model_validate(MINIMAL)
    assert definition.model_dump(mode="json", exclude_unset=True) == MINIMAL


def test_definition_is_frozen() -> None:
    definition = PipelineDefinition.model_validate(MINIMAL)
    with pytest.raises(ValidationError) as exc:
        definition.name = "renamed"  # type: ignore[misc]
    assert exc.value.errors()[0]["type"] == "frozen_instance"
    step = definition.steps["87e0790f-d40d-4456-a435-40cb83ab29f5"]
    with pytest.raises(ValidationError):
        step.file_path = "other.py"  # type: ignore[misc]


# -- shape errors ------------------------------------------------------------------------

BASE_FILE = DATA_DIR / "pipeline.json"
S1 = "e80ce5f8-544f-44e6-b6be-d794318bbd68"
S2 = "fbf8f7a9-ad68-4c89-b2ef-738c39a799ff"
S3 = "97e1015a-a435-4bc1-b510-dc17f46630eb"


def _set(path: tuple[str, ...], value: Any) -> Any:
    def mutate(d: dict[str, Any]) -> None:
        for key in path[:-1]:
            d = d[key]
        d[path[-1]] = value

    return mutate


def _delete(path: tuple[str, ...]) -> Any:
    def mutate(d: dict[str, Any]) -> None:
        for key in path[:-1]:
            d = d[key]
        del d[path[-1]]

    return mutate


SHAPE_ERRORS = [
    ("steps-not-a-dict", _set(("steps",), [{"uuid": S1}]), ("steps",), "dict_type"),
    ("no-uuid", _delete(("uuid",)), ("uuid",), "missing"),
    (
        "step-no-file-path",
        _delete(("steps", S2, "file_path")),
        ("steps", S2, "file_path"),
        "missing",
    ),
    ("step-no-uuid", _delete(("steps", S2, "uuid")), ("steps", S2, "uuid"), "missing"),
    ("step-not-an-object", _set(("steps", S1), "train.ipynb"), ("steps", S1), "model_type"),
    (
        "step-negative-retries",
        _set(("steps", S3, "retries"), -1),
        ("steps", S3, "retries"),
        "greater_than_equal",
    ),
    (
        "step-zero-timeout",
        _set(("steps", S1, "timeout_seconds"), 0),
        ("steps", S1, "timeout_seconds"),
        "greater_than",
    ),
    (
        "step-connections-not-a-list",
        _set(("steps", S2, "incoming_connections"), S1),
        ("steps", S2, "incoming_connections"),
        "list_type",
    ),
    (
        "step-kernel-a-string",
        _set(("steps", S1, "kernel"), "python"),
        ("steps", S1, "kernel"),
        "model_type",
    ),
    (
        "step-bad-position",
        _set(("steps", S1, "meta_data", "position"), ["left", 3]),
        ("steps", S1, "meta_data", "position", 0),
        "float_parsing",
    ),
    (
        "step-parameters-a-list",
        _set(("steps", S1, "parameters"), []),
        ("steps", S1, "parameters"),
        "dict_type",
    ),
    (
        "settings-negative-retries",
        _set(("settings", "retries"), -2),
        ("settings", "retries"),
        "greater_than_equal",
    ),
    (
        "settings-negative-parallelism",
        _set(("settings", "max_steps_parallelism"), -1),
        ("settings", "max_steps_parallelism"),
        "greater_than_equal",
    ),
    (
        "settings-zero-backoff",
        _set(("settings", "retry_backoff_seconds"), 0),
        ("settings", "retry_backoff_seconds"),
        "greater_than",
    ),
    ("parameters-a-list", _set(("parameters",), [1, 2]), ("parameters",), "dict_type"),
    ("services-a-list", _set(("services",), []), ("services",), "dict_type"),
    (
        "service-port-zero",
        _set(("services", "tensorboard", "ports"), [0]),
        ("services", "tensorboard", "ports", 0),
        "greater_than",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "loc", "error_type"),
    [pytest.param(m, loc, t, id=name) for name, m, loc, t in SHAPE_ERRORS],
)
def test_shape_error_names_its_location(mutate: Any, loc: tuple[str, ...], error_type: str) -> None:
    data = copy.deepcopy(_raw(BASE_FILE))
    mutate(data)
    with pytest.raises(ValidationError) as exc:
        PipelineDefinition.model_validate_json(json.dumps(data))
    found = [(tuple(e["loc"]), e["type"]) for e in exc.value.errors()]
    # One problem, at its place (a union field reports it once per member).
    assert found and all(where[: len(loc)] == loc for where, _ in found), found
    assert error_type in {kind for _, kind in found}, found


def test_every_shape_error_is_listed_at_once() -> None:
    data = copy.deepcopy(_raw(BASE_FILE))
    del data["steps"][S1]["file_path"]
    del data["steps"][S3]["file_path"]
    data["steps"][S2]["retries"] = -1
    data["settings"]["retries"] = -1
    data["services"]["streamlit"]["ports"] = [8501, -1]

    with pytest.raises(ValidationError) as exc:
        PipelineDefinition.model_validate_json(json.dumps(data))
    assert _locs(exc.value) == {
        ("steps", S1, "file_path"),
        ("steps", S3, "file_path"),
        ("steps", S2, "retries"),
        ("settings", "retries"),
        ("services", "streamlit", "ports", 1),
    }
