"""Run a slow producer (decoding, preprocessing) in a reader thread, ahead of its consumer (the model).

    from mmfeat.features.prefetch import prefetched
    for index, frame in prefetched(preprocessed_frames, depth=16):
        ...                     # the next frames are decoded while this one is used

The reader thread fills a bounded queue, so at most `depth` items wait in
memory; it yields the items in the producer's order. An exception raised by
the producer (an unreadable file, a decoder error) is raised again in the
consumer, the same exception object with its message. When the consumer stops
early (a `break`, an exception, the generator closed), the thread is told to
stop and joined before control returns, so no thread outlives its loop.
Decoders (FFmpeg) and torch's operators release the GIL, so the two threads
run at once.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

Item = TypeVar("Item")

DEFAULT_DEPTH = 32  # items decoded ahead: a few batches of 8 clips' new frames, a few MB of small frames
_POLL_SECONDS = 0.1  # how often a blocked reader checks whether the consumer has stopped


class _Finished:
    """The queue's last item: the producer ran out, or raised `error`."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def prefetched(items: Iterable[Item], depth: int = DEFAULT_DEPTH) -> Iterator[Item]:
    """The items of `items`, in order, produced by a reader thread at most `depth` ahead."""
    if depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    reader = threading.Thread(target=_read, args=(items, ready, stop), name="mmfeat-reader", daemon=True)
    reader.start()
    try:
        while True:
            item = ready.get()
            if isinstance(item, _Finished):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        while reader.is_alive():  # empty the queue so that a reader blocked on put() sees the stop
            try:
                ready.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                pass
        reader.join()


def _read(items: Iterable[Item], ready: queue.Queue, stop: threading.Event) -> None:
    """The reader thread: put each item, then _Finished; give up as soon as `stop` is set."""
    finished = _Finished()
    try:
        for item in items:
            if not _put(ready, item, stop):
                return
    except BaseException as error:  # handed to the consumer, which raises it
        finished = _Finished(error)
    finally:
        close = getattr(items, "close", None)
        if stop.is_set() and close is not None:
            close()  # a generator's `finally` (a decoder's release) runs in the thread that ran it
    _put(ready, finished, stop)


def _put(ready: queue.Queue, item, stop: threading.Event) -> bool:
    """Put `item` when there is room; False if the consumer stopped first."""
    while not stop.is_set():
        try:
            ready.put(item, timeout=_POLL_SECONDS)
            return True
        except queue.Full:
            pass
    return False
