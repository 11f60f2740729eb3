"""Long work as a stream the page reads as it comes: the work runs on a worker thread that stops when the reader
goes away."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any


class Stopped(Exception):
    """The reader of a stream went away: the work ends at its next step."""


DONE = object()


def streamed(work: Callable[[Callable[[Any], None], threading.Event], None]) -> Iterator[Any]:
    """Run `work(emit, stop)` on a worker thread and yield what it emits as it comes. When the reader stops early
    (the generator is closed: a client that went away), `stop` is set, the work raises `Stopped` at its next
    check, and the thread is joined before the generator returns: the model is never left running unseen. An
    exception of the work is raised in the reader."""
    import queue

    out: queue.Queue = queue.Queue()
    stop = threading.Event()

    def run() -> None:
        try:
            work(out.put, stop)
        except Stopped:
            pass
        except Exception as err:  # reported to the reader, who is waiting on the queue
            out.put(err)
        out.put(DONE)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        while (item := out.get()) is not DONE:
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()
