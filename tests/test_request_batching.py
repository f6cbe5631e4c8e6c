"""Micro-batching of concurrent requests (serving/batching.py)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from serving.batching import MicroBatcher, QueueFull


def run(coroutine_function):
    return asyncio.run(coroutine_function())


def test_items_that_arrive_together_run_as_one_batch_up_to_its_size():
    calls: list[list[int]] = []

    def square(items: list[int]) -> list[int]:
        calls.append(items)
        return [item * item for item in items]

    async def scenario():
        batcher = MicroBatcher(square, max_batch=3, max_wait=0.2, max_queue=10)
        batcher.start()
        results = await asyncio.gather(*(batcher.submit(i) for i in range(5)))
        await batcher.stop()
        return results

    results = run(scenario)
    assert [r.result for r in results] == [0, 1, 4, 9, 16]
    assert calls == [[0, 1, 2], [3, 4]]
    assert [r.batch_size for r in results] == [3, 3, 3, 2, 2]
    assert all(r.queued >= 0 for r in results)


def test_a_failing_batch_fails_its_own_items_and_the_next_batch_runs():
    def fragile(items: list[int]) -> list[int]:
        if 0 in items:
            raise ValueError("zero")
        return items

    async def scenario():
        batcher = MicroBatcher(fragile, max_batch=2, max_wait=0.05, max_queue=10)
        batcher.start()
        first = await asyncio.gather(batcher.submit(0), batcher.submit(1), return_exceptions=True)
        second = await batcher.submit(7)
        await batcher.stop()
        return first, second

    first, second = run(scenario)
    assert all(isinstance(outcome, ValueError) for outcome in first)
    assert second.result == 7 and second.batch_size == 1


def test_a_full_queue_refuses_at_once():
    release = threading.Event()

    def slow(items: list[int]) -> list[int]:
        release.wait(timeout=10)
        return items

    async def scenario():
        batcher = MicroBatcher(slow, max_batch=1, max_wait=0.0, max_queue=2)
        batcher.start()
        running = asyncio.ensure_future(batcher.submit(1))  # taken by the worker, which now blocks
        await asyncio.sleep(0.1)
        waiting = [asyncio.ensure_future(batcher.submit(i)) for i in (2, 3)]  # fill the queue
        await asyncio.sleep(0.05)
        with pytest.raises(QueueFull, match="2 requests are waiting already"):
            await batcher.submit(4)
        release.set()
        done = [await task for task in (running, *waiting)]
        await batcher.stop()
        return done

    assert [r.result for r in run(scenario)] == [1, 2, 3]
