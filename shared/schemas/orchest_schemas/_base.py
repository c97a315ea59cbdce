"""Base classes shared by every contract model."""

from __future__ import annotations

import itertools
import os

from pydantic import BaseModel, ConfigDict

_ids = itertools.count()
_id_prefix = os.urandom(10).hex()


def _new_prefix() -> None:
    global _id_prefix
    _id_prefix = os.urandom(10).hex()


os.register_at_fork(after_in_child=_new_prefix)  # a forked child draws its own prefix


def new_id() -> str:
    """A unique id (32 hex digits): a random prefix drawn once per process, then
    a counter. Unique like a uuid4, without a system call per id (event and
    report ids are made by the thousand on hot paths; ``os.getpid`` is one)."""
    return f"{_id_prefix}{next(_ids) % 16**12:012x}"


class Message(BaseModel):
    """A message that crosses a service boundary.

    Frozen, and readers ignore fields they do not know, so a newer writer can
    add a field without breaking older readers (a breaking change gets a new
    subject version instead: ``docs/bus.md``).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    def to_bytes(self) -> bytes:
        """Serialise to the JSON bytes that go on the bus."""
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Message:
        """Parse JSON bytes from the bus; raises ``pydantic.ValidationError``."""
        return cls.model_validate_json(data)
