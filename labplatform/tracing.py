"""Trace hooks: the platform's code names its steps, `with span("cluster.apply", kind):`
around a block or `@traced("environment.load")` on a function, and by default that does
nothing but look up one global. A benchmark installs a recorder (bench/spans.py) to time
them. Imports nothing of the platform, so that any module may use it."""

import contextlib
import functools
from collections.abc import Callable
from contextlib import AbstractContextManager

# recorder(name, detail) returns the context manager that times one step.
Recorder = Callable[[str, str], AbstractContextManager]

_OFF = contextlib.nullcontext()
_recorder: Recorder | None = None


def recorder_install(recorder: Recorder | None) -> None:
    """Every step from now on goes to `recorder`; None turns tracing off again."""
    global _recorder
    _recorder = recorder


def span(name: str, detail: str = "") -> AbstractContextManager:
    """One step, e.g. `span("cluster.apply", "Pod")`."""
    return _OFF if _recorder is None else _recorder(name, detail)


def traced(name: str):
    """A decorator: each call of the function is a step called `name`."""

    def decorate(function):
        @functools.wraps(function)
        def call(*args, **kwargs):
            if _recorder is None:
                return function(*args, **kwargs)
            with _recorder(name, ""):
                return function(*args, **kwargs)

        return call

    return decorate
