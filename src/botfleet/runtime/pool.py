"""Worker threads for bot cycles that never hold the process past its shutdown deadline.

`concurrent.futures.ThreadPoolExecutor` joins its threads when the interpreter exits, so one
cycle stuck in a 30-second exchange call would keep a SIGTERMed runner alive past any
deadline. These workers are daemon threads: the runner waits for them as long as its deadline
allows, records what is still in flight for reconciliation, and exits. Each task runs in a
copy of the submitter's `contextvars` context, as `asyncio.to_thread` does.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from concurrent.futures import Future

_STOP = object()


class DaemonPool:
    def __init__(self, workers: int, name: str = "botfleet-cycle"):
        if workers < 1:
            raise ValueError("a pool needs at least one worker")
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(workers)]
        for t in self._threads:
            t.start()
        self.closed = False

    def submit(self, fn, /, *args, **kwargs) -> Future:
        if self.closed:
            raise RuntimeError("the pool is shut down")
        future: Future = Future()
        self._queue.put((future, contextvars.copy_context(), fn, args, kwargs))
        return future

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            future, ctx, fn, args, kwargs = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = ctx.run(fn, *args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed to whoever waits on it
                future.set_exception(exc)
            else:
                future.set_result(result)

    def shutdown(self) -> None:
        """No new tasks; idle workers end, busy ones end after their task (never joined)."""
        if self.closed:
            return
        self.closed = True
        for _ in self._threads:
            self._queue.put(_STOP)
