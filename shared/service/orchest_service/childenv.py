"""The environment of what a service starts for its users: steps and kernels.

A service's own environment holds its secrets (``ORCHEST_NATS_PASSWORD``,
``ORCHEST_DATABASE_URL``, ``ORCHEST_API_TOKENS``...) and its settings, all
``ORCHEST_*`` like the variables a step is given. A step or a kernel gets
none of it but an allow-list: what a program needs to run on this host
(``INHERITED``, ``INHERITED_PREFIXES``). On top come the variables the user
gave the run or session (the pipeline's, the job's), then the ``ORCHEST_*``
contract variables the caller sets, each by its name (``CONTRACT``).

Left out on purpose, with a reason each:

- ``ORCHEST_*``: the service's settings and secrets; the contract variables
  are set by the caller, never inherited.
- ``JUPYTER_*``, ``JPY_*``, ``EG_*``, ``KG_*``: the service's own Jupyter
  configuration (``JUPYTER_TOKEN``, ``EG_AUTH_TOKEN``, a ``JUPYTER_CONFIG_DIR``
  holding a session's tokens). A kernel reads its connection file from its
  command line and needs none of them.
- ``PYTHON*``, ``VIRTUAL_ENV``, ``CONDA_*``, ``UV_*``, ``PIP_*``: how the
  service's own Python was started and installed (``PYTHONPATH`` names the
  service's code). Steps run the interpreter they are given; pip and uv
  settings for a step go in its pipeline's variables.
- ``LD_*``, ``R_*``, ``DOCKER_*``, ``SSH_AUTH_SOCK``, cloud credentials:
  loader tricks, a way to the Docker engine (root on the host), credentials
  of the service's user. A step that needs one gets it as a pipeline variable.
"""

from __future__ import annotations

from collections.abc import Mapping

INHERITED = frozenset(
    {
        # Finding programs, who and where the user is.
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        # Terminal, language and time: output and parsing as on the host.
        "TERM",
        "LANG",
        "LANGUAGE",
        "TZ",
        # Temporary files (Python's tempfile, R's tempdir, pip's builds).
        "TMPDIR",
        "TEMP",
        "TMP",
        # Where per-user files go (Jupyter's and pip's data, caches, configs).
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_CACHE_HOME",
        "XDG_STATE_HOME",
        "XDG_RUNTIME_DIR",
        # The host's way out to the network and the certificates it trusts:
        # without them pip and downloads fail behind a proxy.
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
    }
)
"""Variables of the service's environment that its children keep, by name."""

INHERITED_PREFIXES = ("LC_",)
"""Locale categories (``LC_ALL``, ``LC_CTYPE``...), kept like ``LANG``."""

CONTRACT = frozenset(
    {
        "ORCHEST_RUN_UUID",
        "ORCHEST_STEP_UUID",
        "ORCHEST_STEP_ATTEMPT",
        "ORCHEST_JOB_UUID",
        "ORCHEST_PIPELINE_UUID",
        "ORCHEST_PIPELINE_PATH",
        "ORCHEST_PROJECT_UUID",
        "ORCHEST_PROJECT_DIR",
        "ORCHEST_SESSION_UUID",
        "ORCHEST_SESSION_TYPE",
        "ORCHEST_PARAMETERS",
        # A session's mark on its processes (``runtime/process.py``): no secret.
        "ORCHEST_SESSION",
        "ORCHEST_SESSION_ROLE",
    }
)
"""The ``ORCHEST_*`` variables a step or kernel may be given (never inherited)."""


def inherited_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of ``environ`` on the allow-list. (By name first: a value of
    ``os.environ`` is decoded at each read, and most are left out; a step
    start pays this.)"""
    return {
        name: environ[name]
        for name in environ
        if name in INHERITED or name.startswith(INHERITED_PREFIXES)
    }


def child_environment(
    environ: Mapping[str, str],
    *,
    variables: Mapping[str, str] | None = None,
    contract: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """What a step or kernel starts with: the allow-listed part of the
    service's ``environ``, then ``variables`` (the user's: the pipeline's,
    the job's), then ``contract``, which the user's cannot override.

    Raises ``ValueError`` for a contract variable not in ``CONTRACT``: a
    setting passed on by mistake is refused rather than leaked.
    """
    contract = contract or {}
    if unknown := sorted(set(contract) - CONTRACT):
        raise ValueError(f"not step contract variables: {', '.join(unknown)}")
    return {**inherited_environment(environ), **(variables or {}), **contract}
