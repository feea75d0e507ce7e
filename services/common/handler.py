"""What a stage provides and what it may raise: the interface both stream engines run.

A stage is a `StageHandler`: a pure-ish `handle(event) -> output events`. An engine
(`services.common.worker` for the shared aiokafka loop, `services.common.faust_worker` for faust-streaming)
consumes its topics and runs every message through `services.common.processing.MessageProcessor`, which
gives both the same retries, dead letters, status events and at-least-once outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from services.common.contracts import EventBase


class Rejected(Exception):
    """The input is understood and refused for a domain reason (no consent, not a media file, ...).

    Not retried and not dead-lettered: it ends as a failed status with this code and message.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Retryable(Exception):
    """A transient failure (network, store unavailable): worth another attempt after a pause."""


#: Sends one output event now, before the handler returns; callable from any thread.
Emit = Callable[[EventBase], None]


@dataclass(frozen=True)
class MessageMeta:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    timestamp_ms: int | None
    headers: tuple[tuple[str, bytes], ...]
    #: Set by the engine while the message is handled; None where no engine runs the handler (tests, tools).
    emit: Emit | None = field(default=None, compare=False, repr=False)

    @property
    def source(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


@runtime_checkable
class StageHandler(Protocol):
    """What a stage provides; the engine does the rest."""

    @property
    def stage(self) -> str:
        """The stage's name (a `StageName` value)."""
        ...

    @property
    def input_topics(self) -> Sequence[str]:
        """Registered names of the topics it consumes (co-partitioned when it keeps per-key state)."""
        ...

    # Optional: `output_topics: Sequence[str]`, counted (zeros included) in the completed status;
    # `engine: Literal["loop", "faust"]`, where the stage runs unless `SIGHTLINE_WORKER__ENGINE` says;
    # `async start()` / `async stop()` around the engine's life; `max_in_flight: int`;
    # `assigned(partitions: frozenset[int])`: the partition numbers this instance owns after a rebalance
    # (a stage's inputs are co-partitioned, so one set of numbers covers them all);
    # `status_unit: str`, the unit named in every status of this handler (instead of the event's chunk or segment);
    # `promised_outputs(output) -> Mapping[str, int]`: events per topic that other messages will emit on behalf of
    # an output (a frame range stands for its chunks), counted in the completed status with the output itself.

    async def handle(self, event: EventBase, meta: MessageMeta) -> Sequence[EventBase]:
        """Process one event and return the events to emit. Raise Rejected or Retryable to fail.

        Outputs that stand on their own may be sent earlier through ``meta.emit``; returning them too
        is harmless (an event id is sent once per message).
        """
        ...


class HasFlush(Protocol):
    async def flush(self) -> None:
        """Called before offsets are committed; raising blocks the commit (buffered sinks)."""
        ...


class FatalWorkerError(RuntimeError):
    """The worker cannot continue safely (outputs could not be produced); it stops without committing."""


def tell_assigned(handler: StageHandler, partitions: Iterable[int]) -> None:
    """Tell a stage that wants to know (``assigned``) which partition numbers it owns now."""
    hook = getattr(handler, "assigned", None)
    if hook is not None:
        hook(frozenset(partitions))
