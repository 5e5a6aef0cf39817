"""The one batch engine of drafting: rationales and marker proposals both run through it.

Workers take units (a (session, item) context, or a session's turns) from a shared
iterator, at most ``concurrency`` requests in flight; each finished result goes to one
writer that commits whatever has arrived in one transaction, in a thread of its own over
one connection (group commit off the event loop), so a kill loses at most the replies of
the last few milliseconds and Ctrl-C loses none. A store failure stops the workers (no
more requests nobody can save) and is raised once what was in flight has ended.

What differs per kind is given to :func:`run_units`: how to ask for one unit (``ask``,
which turns a failed request into a failed result itself) and how a writer saves the
results (``RowWriter.write``). Selection, and so resuming, is each kind's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Connection, Engine

Unit = TypeVar("Unit")
Result = TypeVar("Result")

STAGGER_SECONDS = 0.005  # between the first requests of successive workers


class RowWriter(Generic[Result]):
    """Commits results from one dedicated thread over one connection (opening one costs
    more); a kind says how in :meth:`write`, called inside the transaction."""

    thread_name = "draft-writer"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.thread_name)
        self._connection: Connection | None = None

    def write(self, connection: Connection, results: list[Result]) -> None:
        raise NotImplementedError

    def _save(self, results: list[Result]) -> None:
        if self._connection is None:
            self._connection = self.engine.connect()
        with self._connection.begin():
            self.write(self._connection, results)

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()

    async def run(self, queue: asyncio.Queue[Result | None]) -> None:
        """Commit whatever has arrived, in one transaction per wake-up, until told to stop."""
        loop = asyncio.get_running_loop()
        try:
            stopping = False
            while not stopping:
                first = await queue.get()
                batch = [] if first is None else [first]
                stopping = first is None
                while not queue.empty():
                    item = queue.get_nowait()
                    if item is None:
                        stopping = True
                    else:
                        batch.append(item)
                if batch:
                    await loop.run_in_executor(self._executor, self._save, batch)
        finally:
            await loop.run_in_executor(self._executor, self._close)
            self._executor.shutdown(wait=False)


def write_each(
    units: Iterable[Unit],
    make: Callable[[Unit], Result],
    writer: RowWriter[Result],
    *,
    on_result: Callable[[Result], None] | None = None,
) -> None:
    """Results that need no request (an offline proposer): each made, committed by
    ``writer`` and handed to ``on_result`` in turn, in the caller's thread and with no
    event loop (a caller may be inside one, as the terminal UI is)."""
    try:
        for unit in units:
            result = make(unit)
            writer._save([result])
            if on_result is not None:
                on_result(result)
    finally:
        writer._close()
        writer._executor.shutdown(wait=False)


async def run_units(
    units: Iterable[Unit],
    ask: Callable[[Unit], Awaitable[Result]],
    writer: RowWriter[Result],
    *,
    client: AbstractAsyncContextManager[Any] | None = None,
    concurrency: int = 8,
    on_result: Callable[[Result], None] | None = None,
    stagger: float = STAGGER_SECONDS,
) -> None:
    """Ask for every unit with at most ``concurrency`` requests in flight, inside
    ``client`` (the provider's connection, opened once); each result is handed to
    ``on_result`` (counting, progress) and committed by ``writer`` as it finishes."""
    queue: asyncio.Queue[Result | None] = asyncio.Queue()
    pending = iter(units)
    writing = asyncio.create_task(writer.run(queue))

    async def worker(position: int) -> None:
        # Staggered starts: replies then arrive spread out instead of in one wave that
        # the event loop must parse back to back while the rest wait (and stay in step).
        await asyncio.sleep(position * stagger)
        for unit in pending:  # a shared iterator: each unit goes to one worker
            if writing.done():  # the store failed: stop paying for results nobody can save
                return
            result = await ask(unit)
            queue.put_nowait(result)
            if on_result is not None:
                on_result(result)
            await asyncio.sleep(0)  # let the writer run even when results come back at once

    try:
        async with client if client is not None else nullcontext():
            workers = [asyncio.create_task(worker(n)) for n in range(max(1, concurrency))]
            try:
                await asyncio.gather(*workers)
            finally:
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
    finally:
        queue.put_nowait(None)  # flush what has finished, even when interrupted
        await asyncio.shield(writing)
