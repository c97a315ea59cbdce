"""The allow-list of what steps and kernels inherit (``orchest_service.childenv``)."""

from __future__ import annotations

import pytest

from orchest_service.childenv import CONTRACT, child_environment, inherited_environment


@pytest.mark.parametrize(
    "name",
    [
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "TERM",
        "LANG",
        "LANGUAGE",
        "LC_ALL",
        "LC_CTYPE",
        "LC_TIME",
        "TZ",
        "TMPDIR",
        "XDG_CACHE_HOME",
        "XDG_RUNTIME_DIR",
        "HTTPS_PROXY",
        "no_proxy",
        "SSL_CERT_FILE",
        "REQUESTS_CA_BUNDLE",
    ],
)
def test_what_a_program_needs_is_kept(name: str) -> None:
    assert inherited_environment({name: "value"}) == {name: "value"}


@pytest.mark.parametrize(
    "name",
    [
        # The services' settings and secrets, the contract's names among them.
        "ORCHEST_NATS_PASSWORD",
        "ORCHEST_NATS_USER",
        "ORCHEST_NATS_URL",
        "ORCHEST_DATABASE_URL",
        "ORCHEST_API_TOKENS",
        "ORCHEST_API_TOKEN",
        "ORCHEST_SESSIONS_DIR",
        "ORCHEST_RUN_UUID",
        "ORCHEST_PROJECT_DIR",
        "ORCHEST_SESSION",
        # Jupyter's and Enterprise Gateway's own settings and tokens.
        "JUPYTER_TOKEN",
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_GATEWAY_AUTH_TOKEN",
        "JPY_PARENT_PID",
        "EG_AUTH_TOKEN",
        "KG_AUTH_TOKEN",
        # How the service's Python was started and installed.
        "PYTHONPATH",
        "PYTHONHOME",
        "VIRTUAL_ENV",
        "CONDA_PREFIX",
        "UV_PROJECT_ENVIRONMENT",
        "PIP_INDEX_URL",
        # Ways into the host and credentials of the service's user.
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "DOCKER_HOST",
        "SSH_AUTH_SOCK",
        "AWS_SECRET_ACCESS_KEY",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "PGPASSWORD",
        # Look-alikes of allowed names.
        "path",
        "PATH_EXTRA",
        "HOME2",
        "XLC_ALL",
    ],
)
def test_everything_else_is_dropped(name: str) -> None:
    assert inherited_environment({name: "secret"}) == {}
    assert child_environment({name: "secret"}) == {}


@pytest.mark.parametrize(
    ("environ", "variables", "contract", "expected"),
    [
        ({}, None, None, {}),
        ({"PATH": "/bin", "X": "1"}, {"X": "2"}, None, {"PATH": "/bin", "X": "2"}),
        # The user's variables override the inherited ones...
        ({"PATH": "/bin"}, {"PATH": "/opt/bin"}, None, {"PATH": "/opt/bin"}),
        # ...and the contract overrides the user's.
        (
            {"ORCHEST_RUN_UUID": "the runner's"},
            {"ORCHEST_RUN_UUID": "the user's", "MINE": "x"},
            {"ORCHEST_RUN_UUID": "the work's"},
            {"ORCHEST_RUN_UUID": "the work's", "MINE": "x"},
        ),
        # The user may name a variable as a setting: it is theirs, not the service's.
        (
            {"ORCHEST_NATS_URL": "service"},
            {"ORCHEST_NATS_URL": "user"},
            None,
            {"ORCHEST_NATS_URL": "user"},
        ),
    ],
)
def test_layers(
    environ: dict[str, str],
    variables: dict[str, str] | None,
    contract: dict[str, str] | None,
    expected: dict[str, str],
) -> None:
    assert child_environment(environ, variables=variables, contract=contract) == expected


@pytest.mark.parametrize(
    "name", ["ORCHEST_DATABASE_URL", "ORCHEST_NATS_PASSWORD", "ORCHEST_API_TOKENS", "PATH", "X"]
)
def test_contract_takes_only_its_names(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        child_environment({}, contract={"ORCHEST_RUN_UUID": "r", name: "secret"})


def test_contract_names_no_setting() -> None:
    assert all(name.startswith("ORCHEST_") for name in CONTRACT)
    settings = {"ORCHEST_NATS_PASSWORD", "ORCHEST_DATABASE_URL", "ORCHEST_API_TOKENS"}
    assert not CONTRACT & settings
    assert child_environment({}, contract=dict.fromkeys(CONTRACT, "v")) == dict.fromkeys(
        CONTRACT, "v"
    )
