"""Micro-batching: clips that arrive within a few milliseconds of each other run as one batch.

The first clip of a batch waits at most ``wait_ms`` for up to ``max_batch - 1`` others; the batch then
runs on one worker thread (the runtime uses its own threads inside), so the event loop keeps
accepting requests while a batch computes.

Example:
    >>> import asyncio, numpy as np
    >>> async def demo():
    ...     batcher = MicroBatcher(lambda x: x.sum(axis=1, keepdims=True), max_batch=8, wait_ms=5)
    ...     batcher.start()
    ...     out = await asyncio.gather(*(batcher.submit(np.full(3, i, np.float32)) for i in range(4)))
    ...     await batcher.stop()
    ...     return [float(o[0]) for o in out], batcher.batches
    >>> asyncio.run(demo())
    ([0.0, 3.0, 6.0, 9.0], 1)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

log = logging.getLogger(__name__)


class MicroBatcher:
    """Collects ``(num_samples,)`` clips into ``(batch, num_samples)`` calls of ``fn`` (returning ``(batch, ...)``)."""

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray], max_batch: int = 32, wait_ms: float = 5.0):
        self.fn, self.max_batch, self.wait = fn, max_batch, wait_ms / 1000.0
        self.batches = 0  # batches run so far (for /v1/health and tests)
        self._queue: asyncio.Queue | None = None
        self._task: asyncio.Task | None = None
        self._executor: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Start the collecting task on the running event loop."""
        self._queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sonogram-batch")
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def submit(self, clip: np.ndarray) -> np.ndarray:
        """The row of ``fn``'s output for ``clip``; raises what ``fn`` raised for its batch."""
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((clip, future))
        return await future

    async def _collect(self) -> list[tuple[np.ndarray, asyncio.Future]]:
        items = [await self._queue.get()]
        deadline = asyncio.get_running_loop().time() + self.wait
        while len(items) < self.max_batch:
            if not self._queue.empty():
                items.append(self._queue.get_nowait())
                continue
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                items.append(await asyncio.wait_for(self._queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return items

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = await self._collect()
            batch = np.stack([clip for clip, _ in items])  # (batch, num_samples)
            try:
                out = await loop.run_in_executor(self._executor, self.fn, batch)
            except Exception as exc:  # handed to every waiting request, which reports it
                log.exception("batch of %d failed", len(items))
                for _, future in items:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batches += 1
            for (_, future), row in zip(items, out):
                if not future.done():
                    future.set_result(row)
