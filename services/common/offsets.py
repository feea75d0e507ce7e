"""Which offsets are safe to commit when messages finish out of order.

Messages of one partition may be processed concurrently and finish in any order. Committing offset N
tells the group "everything below N is done", so the commit point is the lowest offset still in
flight (or one past the highest finished, when nothing is in flight). A crash then re-delivers only
unfinished work: at-least-once, never at-most-once.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PartitionOffsets:
    in_flight: set[int] = field(default_factory=set)
    highest_done: int = -1
    committed: int | None = None

    def start(self, offset: int) -> None:
        if offset in self.in_flight:
            raise ValueError(f"offset {offset} is already in flight")
        self.in_flight.add(offset)

    def finish(self, offset: int) -> None:
        self.in_flight.discard(offset)
        self.highest_done = max(self.highest_done, offset)

    def abandon(self, offset: int) -> None:
        """Work given up without finishing (revocation, shutdown): it must be delivered again."""
        self.in_flight.discard(offset)
        # Nothing at or after an abandoned offset may be committed past it.
        self.highest_done = min(self.highest_done, offset - 1)

    def commit_point(self) -> int | None:
        """The offset to commit (next to read), or None when nothing new is safe to commit."""
        if self.in_flight:
            point = min(self.in_flight)
        elif self.highest_done >= 0:
            point = self.highest_done + 1
        else:
            return None
        if self.committed is not None and point <= self.committed:
            return None
        return point

    def mark_committed(self, point: int) -> None:
        self.committed = point if self.committed is None else max(self.committed, point)
