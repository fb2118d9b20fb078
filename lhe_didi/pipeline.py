"""Overlap reading and writing with the network: a read-ahead thread and a background writer.

torch releases the GIL inside its operators, gzip inside compression, so while the network works on one chunk the
next chunk is parsed and the previous one formatted and compressed. Order, content and errors are those of the
serial loop: the read-ahead thread hands over batches (or the exception that stopped it) in file order, and the
writer writes chunks in the order given, re-raising a failure at the next call.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

_DONE = object()


def read_ahead(iterator: Iterator, depth: int = 1) -> Iterator:
    """Yield the items of ``iterator``, produced in a daemon thread up to ``depth`` items ahead; an exception in
    the producer is raised here, where the serial loop would have met it."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        try:
            for item in iterator:
                if stop.is_set():
                    return
                items.put((item, None))
        except BaseException as exc:  # handed to the consumer, which re-raises it in its own thread
            items.put((None, exc))
            return
        items.put((_DONE, None))

    thread = threading.Thread(target=produce, name="lhe-didi-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, exc = items.get()
            if exc is not None:
                raise exc
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # let a producer blocked on a full queue finish
            try:
                items.get(timeout=0.05)
            except queue.Empty:
                pass


class BackgroundWriter:
    """Run ``write(*args)`` calls one at a time in a worker thread, in order; at most one call is pending."""

    def __init__(self, write: Callable):
        self._write = write
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lhe-didi-writer")
        self._pending: Future | None = None

    def submit(self, *args) -> None:
        self.wait()
        self._pending = self._executor.submit(self._write, *args)

    def wait(self) -> None:
        """Block until the pending call is done; re-raise its exception."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._executor.shutdown(wait=True)

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:  # the error that stopped the loop wins; a pending write is finished or abandoned quietly
            try:
                self.close()
            except Exception:
                pass
