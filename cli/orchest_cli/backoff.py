"""When to restart a crashed process: a pure decision."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RestartPolicy:
    initial_delay: float = 0.2
    max_delay: float = 15.0
    factor: float = 2.0
    stable_after: float = 10.0
    """A process that ran at least this long before dying counts as a first failure."""

    def delay(self, consecutive_failures: int) -> float:
        """Seconds to wait before the restart after the n-th failure in a row (n >= 1)."""
        if consecutive_failures < 1:
            raise ValueError("consecutive_failures starts at 1")
        return min(self.max_delay, self.initial_delay * self.factor ** (consecutive_failures - 1))

    def failures_after_exit(self, previous_failures: int, ran_for: float) -> int:
        """The failure count after an exit of a process that ran ``ran_for`` seconds."""
        return 1 if ran_for >= self.stable_after else previous_failures + 1
