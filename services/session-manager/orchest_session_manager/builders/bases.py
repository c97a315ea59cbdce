"""Which base an environment's ``base_image`` names (pure rules)."""

from __future__ import annotations

from dataclasses import dataclass

ORCHEST_PYTHON = "orchest/base-kernel-py"
ORCHEST_PREFIX = "orchest/base-kernel-"
_MISSING = {
    "orchest/base-kernel-py-gpu": "a GPU base",
    "orchest/base-kernel-r": "an R base image",
    "orchest/base-kernel-julia": "a Julia base image",
    "orchest/base-kernel-javascript": "a JavaScript base image",
}


class BaseMissing(Exception):
    """The base an environment names is not on this stack (the message says what to do)."""


@dataclass(frozen=True)
class Base:
    default: bool
    """The stack's own Python base (the default interpreter, the kernel image)."""
    image: str | None = None
    """Another image, as named (docker builds only)."""


def _repository(base_image: str) -> str:
    name = base_image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[0] if ":" in last else name


def resolve_base(base_image: str, *, gpu_support: bool, docker: bool) -> Base:
    """The base of a build, or ``BaseMissing`` naming what this stack lacks."""
    repository = _repository(base_image.strip())
    if gpu_support:
        raise BaseMissing("gpu_support: this stack has no GPU base")
    if repository in ("", ORCHEST_PYTHON):
        return Base(default=True)
    if repository in _MISSING:
        raise BaseMissing(
            f"{base_image!r}: this stack has no {_MISSING[repository]}"
            " (build one and name it in base_image)"
        )
    if repository.startswith(ORCHEST_PREFIX):
        raise BaseMissing(f"{base_image!r}: this stack has no such Orchest base image")
    if not docker:
        raise BaseMissing(
            f"{base_image!r}: a process build has no image; use {ORCHEST_PYTHON!r}"
            " (the default interpreter) or build with ORCHEST_ENVIRONMENT_BUILDER=docker"
        )
    return Base(default=False, image=base_image.strip())
