"""Records the steps the platform's trace hooks name (labplatform/tracing.py): per step
its label (the span's name, and its detail if any), its wall-clock start and end, the
process's CPU seconds meanwhile, and the task its thread was working on. A few
microseconds per step, only while a recorder is installed."""

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from labplatform import tracing


class Recorder:
    def __init__(self) -> None:
        self._events: list[dict] = []
        self._lock = threading.Lock()
        self._thread = threading.local()

    def _record(self, label: str, started: float, cpu: float) -> None:
        event = {
            "l": label,
            "t0": started,
            "t1": time.time(),
            "cpu": time.process_time() - cpu,
            "task": getattr(self._thread, "task", None),
        }
        with self._lock:
            self._events.append(event)

    @contextlib.contextmanager
    def __call__(self, name: str, detail: str) -> Iterator[None]:
        started, cpu = time.time(), time.process_time()
        try:
            yield
        finally:
            self._record(f"{name} {detail}" if detail else name, started, cpu)

    def task_begin(self, task: object) -> None:
        """Steps this thread takes from now on are the task's."""
        self._thread.task = task
        self._thread.began = (time.time(), time.process_time())

    def task_end(self, label: str) -> None:
        """The task as a step of its own, called `label`; this thread's next steps are no task's."""
        began = getattr(self._thread, "began", None)
        if began is not None:
            self._record(label, *began)
        self._thread.task = self._thread.began = None

    def take(self) -> list[dict]:
        """The steps recorded since the last take."""
        with self._lock:
            events, self._events = self._events, []
        return events


@contextlib.contextmanager
def recording() -> Iterator[Recorder]:
    """Records the platform's steps while in the block."""
    recorder = Recorder()
    tracing.recorder_install(recorder)
    try:
        yield recorder
    finally:
        tracing.recorder_install(None)


def events_append(events: list[dict], directory: Path) -> None:
    """Adds `events` to this process's file in `directory` (trace-<pid>.jsonl)."""
    if events:
        with (directory / f"trace-{os.getpid()}.jsonl").open("a") as out:
            out.writelines(json.dumps(event) + "\n" for event in events)


def events_read(directory: Path) -> list[dict]:
    """Every process's events in `directory`."""
    events = []
    for path in sorted(directory.glob("trace-*.jsonl")):
        events.extend(json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return events
