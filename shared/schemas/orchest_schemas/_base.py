"""Base classes shared by every contract model."""

from __future__ import annotations

import itertools
import os

from pydantic import BaseModel, ConfigDict

_ids = itertools.count()
_id_prefix: tuple[int, str] = (-1, "")


def new_id() -> str:
    """A unique id (32 hex digits): a random prefix drawn once per process, then
    a counter. Unique like a uuid4, without a system call per id (event and
    report ids are made by the thousand on hot paths)."""
    global _id_prefix
    pid = os.getpid()
    if _id_prefix[0] != pid:  # a forked child draws its own prefix
        _id_prefix = (pid, os.urandom(10).hex())
    return f"{_id_prefix[1]}{next(_ids) % 16**12:012x}"


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
