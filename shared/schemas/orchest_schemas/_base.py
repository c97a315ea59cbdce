"""Base classes shared by every contract model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Message(BaseModel):
    """A message that crosses a service boundary.

    Frozen, and readers ignore fields they do not know, so a newer writer can
    add a field without breaking older readers (brief: a breaking change gets
    a new subject version instead).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    def to_bytes(self) -> bytes:
        """Serialise to the JSON bytes that go on the bus."""
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Message:
        """Parse JSON bytes from the bus; raises ``pydantic.ValidationError``."""
        return cls.model_validate_json(data)
