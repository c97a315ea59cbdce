"""The HTTP API as the CLI calls it: answers read into the contracts'
models (``RunView``, ``JobView``...), errors as ``CliError``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from .auth import auth_headers
from .errors import api_error

ModelT = TypeVar("ModelT", bound=BaseModel)


class Api:
    """One client per command; ``with Api(url) as api: api.get(...)``."""

    def __init__(self, base_url: str, timeout: float | None = 30.0) -> None:
        self.base_url = base_url
        self.client = httpx.Client(base_url=base_url, headers=auth_headers(), timeout=timeout)

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def call(self, method: str, path: str, expected: int = 200, **kwargs: Any) -> Any:
        """One request; its JSON answer (the API's error as a ``CliError``; a
        lost connection is left to the command's error path, ``errors.describe``)."""
        response = self.client.request(method, path, **kwargs)
        if response.status_code != expected:
            raise api_error(response)
        return response.json()

    def get(self, path: str, model: type[ModelT], **kwargs: Any) -> ModelT:
        return model.model_validate(self.call("GET", path, **kwargs))

    def send(
        self, method: str, path: str, model: type[ModelT], expected: int = 200, **kwargs: Any
    ) -> ModelT:
        return model.model_validate(self.call(method, path, expected, **kwargs))

    @contextmanager
    def stream(self, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A streamed GET answering 200 (else the API's error)."""
        with self.client.stream("GET", path, timeout=None, **kwargs) as response:
            if response.status_code != 200:
                response.read()
                raise api_error(response)
            yield response


def call_api(base_url: str, method: str, path: str, expected: int, **kwargs: Any) -> Any:
    """One request with a client of its own (for the one-call commands)."""
    with Api(base_url) as api:
        return api.call(method, path, expected, **kwargs)
