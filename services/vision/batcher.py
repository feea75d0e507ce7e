"""One queue of frames shared by every chunk in flight, so many chunks share a forward pass.

Handlers `submit` the frames of a chunk and await their results. A single consumer task takes up to
``max_batch`` frames, waiting at most ``max_wait_s`` after the first one for more to arrive, and runs
the analysis on a pool of ``workers`` threads (the event loop must keep polling): one batch per thread, so
with several workers, batches run side by side while the next one fills. Frames of one chunk may be split
over consecutive batches; results keep their order.

`call` runs anything else on a batch thread, such as loading the models: every thread that runs torch
operations keeps its own OpenMP workers, and once a process has more of them than cores, OpenMP stops
spinning between operations and each one waits for its workers to wake up.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")
T = TypeVar("T")


@dataclass
class _Item(Generic[In, Out]):
    value: In
    future: asyncio.Future[Out]


class Batcher(Generic[In, Out]):
    def __init__(
        self,
        run: Callable[[Sequence[In]], list[Out]],
        max_batch: int,
        max_wait_s: float,
        workers: int = 1,
        init_worker: Callable[[], object] | None = None,
    ) -> None:
        self._run = run
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.workers = workers
        self._queue: asyncio.Queue[_Item[In, Out]] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="vision-batch", initializer=init_worker)
        self._free = asyncio.Semaphore(workers)
        self._running: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        #: Sizes of the batches run so far (observability and tests).
        self.batch_sizes: list[int] = []

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="vision-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await asyncio.gather(*self._running, return_exceptions=True)
        self._executor.shutdown(wait=True)

    async def call(self, fn: Callable[[], T]) -> T:
        """The result of ``fn`` run on a batch thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def submit(self, values: Sequence[In]) -> list[Out]:
        self.start()
        loop = asyncio.get_running_loop()
        items = [_Item[In, Out](v, loop.create_future()) for v in values]
        for item in items:
            self._queue.put_nowait(item)
        return list(await asyncio.gather(*(item.future for item in items)))

    async def _loop(self) -> None:
        while True:
            await self._free.acquire()  # a batch starts filling only when a thread can take it
            batch = [await self._queue.get()]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch:
                if not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), remaining))
                except TimeoutError:
                    break
            live = [item for item in batch if not item.future.done()]  # a cancelled handler's frames are skipped
            if not live:
                self._free.release()
                continue
            self.batch_sizes.append(len(live))
            task = asyncio.create_task(self._pass(live))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _pass(self, live: list[_Item[In, Out]]) -> None:
        try:
            outputs = await self.call(partial(self._run, [item.value for item in live]))
        except Exception as exc:  # every waiting handler sees the failure and retries its chunk
            for item in live:
                if not item.future.done():
                    item.future.set_exception(exc)
            return
        finally:
            self._free.release()
        for item, out in zip(live, outputs, strict=True):
            if not item.future.done():
                item.future.set_result(out)


__all__ = ["Batcher"]
