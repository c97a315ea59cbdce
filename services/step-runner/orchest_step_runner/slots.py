"""A runner's slots: how many attempts run, and which work may take a free slot.

Pure bookkeeping, no I/O: the runner (``runner.py``) counts and starts with no
await in between, so the event loop is the lock and these counts hold however
the two consumers' messages interleave.

The rules:

- at most ``slots`` attempts run, at most ``job_slots`` of them job work;
- a freed slot goes to interactive work that is waiting, always: job work may
  start only once every slot freed so far has been *looked at* (a pull that
  found no interactive work waiting for it: ``looked``);
- free job slots are first promised to the job messages already in hand;
- a look waits until no interactive hand-back is unconfirmed (else the look
  would miss the work handed back).
"""

from __future__ import annotations

from dataclasses import dataclass

from orchest_schemas.status import Priority


@dataclass
class Slots:
    slots: int
    job_slots: int
    running: int = 0
    running_jobs: int = 0
    freed_count: int = 0
    """Slots freed so far."""
    looked_at: int = -1
    """``freed_count`` when the last look that found no interactive work waiting was sent."""
    interactive_handing_back: int = 0
    """Interactive messages being handed back (their nak not yet confirmed)."""
    jobs_in_hand: int = 0
    """Job messages received, waiting for a look before they start."""

    def free(self, priority: Priority) -> int:
        """Slots the work of ``priority`` could take now."""
        free = self.slots - self.running
        if priority is Priority.JOB:
            free = min(free, self.job_slots - self.running_jobs)
        return max(free, 0)

    @property
    def unlooked(self) -> bool:
        """A freed slot has not been looked at yet (interactive work may be waiting)."""
        return self.looked_at < self.freed_count

    @property
    def jobs_may_start(self) -> bool:
        """Every freed slot was looked at, and no interactive work was waiting."""
        return self.looked_at == self.freed_count

    @property
    def may_look(self) -> bool:
        """No interactive hand-back is waiting for its confirmation."""
        return self.interactive_handing_back == 0

    def job_room(self) -> int:
        """Free job slots not promised to job work already received."""
        return self.free(Priority.JOB) - self.jobs_in_hand

    def fits(self, priority: Priority) -> bool:
        """Work of ``priority`` that arrived now may start (else: hand it back)."""
        if not self.free(priority):
            return False
        return priority is Priority.INTERACTIVE or self.jobs_may_start

    def looked(self, freed_when_sent: int) -> bool:
        """A look sent when ``freed_count`` was ``freed_when_sent`` found no
        interactive work waiting; whether that let job work move on."""
        if freed_when_sent <= self.looked_at:
            return False
        self.looked_at = freed_when_sent
        return True

    def take(self, priority: Priority) -> None:
        self.running += 1
        if priority is Priority.JOB:
            self.running_jobs += 1

    def release(self, priority: Priority) -> None:
        self.running -= 1
        if priority is Priority.JOB:
            self.running_jobs -= 1
        self.freed_count += 1
