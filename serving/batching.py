"""Micro-batching of concurrent requests: one model call for the requests that arrive together.

:class:`MicroBatcher` takes items from any number of coroutines and hands them to one batch
function in a single worker thread (the model is used by one thread at a time): a batch starts
with the first waiting item and takes the others that arrive within ``max_wait`` seconds, up to
``max_batch``. The queue is bounded: a full queue is refused at once (:class:`QueueFull`) instead of
growing without limit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class QueueFull(Exception):
    """The batcher's queue holds ``max_queue`` items already."""


@dataclass
class Batched(Generic[Result]):
    """One item's result, with the seconds it waited in the queue and the size of the batch it ran in."""

    result: Result
    queued: float
    batch_size: int


class MicroBatcher(Generic[Item, Result]):
    """Run ``process`` (items -> results, in order) on batches of the items submitted concurrently."""

    def __init__(
        self, process: Callable[[list[Item]], list[Result]], max_batch: int, max_wait: float, max_queue: int
    ) -> None:
        self.process, self.max_batch, self.max_wait = process, max_batch, max_wait
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=max_queue)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")
        self.batches = 0
        self._worker: asyncio.Task | None = None

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
        self.executor.shutdown(wait=True)

    async def submit(self, item: Item) -> Batched[Result]:
        """``item``'s result once its batch has run; :class:`QueueFull` at once if the queue is full."""
        future = asyncio.get_running_loop().create_future()
        try:
            self.queue.put_nowait((item, future, time.perf_counter()))
        except asyncio.QueueFull as error:
            raise QueueFull(f"{self.queue.maxsize} requests are waiting already") from error
        return await future

    async def _next_batch(self) -> list[tuple]:
        batch = [await self.queue.get()]
        deadline = time.perf_counter() + self.max_wait
        while len(batch) < self.max_batch:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            started = time.perf_counter()
            items = [item for item, _, _ in batch]
            try:
                results = await loop.run_in_executor(self.executor, self.process, items)
            except Exception as error:  # the batch's requests all get it; the worker goes on
                for _, future, _ in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            self.batches += 1
            for (_, future, submitted), result in zip(batch, results, strict=True):
                if not future.done():  # a client that went away cancelled its future
                    future.set_result(Batched(result, started - submitted, len(batch)))
