"""Timestamps of what a provisioning task does, taken inside the Celery workers.

The benchmark's workers run `celery -A bench.provision.worker_app worker`: the project's
own Celery app and tasks, with the functions below wrapped so each call records its start
and end (a few microseconds each). Nothing is changed in what they do. Records go to
BENCH_TRACE_DIR/trace-<pid>.jsonl when each task ends.

Functions are wrapped where their callers look them up (module globals), and a function
that is missing (the code moved on) is skipped and named in the trace, not an error."""

import functools
import json
import os
import threading
import time
from pathlib import Path

_lock = threading.Lock()
_buffer: list[dict] = []
_local = threading.local()
_missing: list[str] = []


def _record(label: str, started: float, ended: float) -> None:
    event = {"l": label, "t0": started, "t1": ended, "task": getattr(_local, "task", None)}
    with _lock:
        _buffer.append(event)


def _wrap(module, attribute: str, label) -> None:
    original = getattr(module, attribute, None)
    if original is None or getattr(original, "_bench_traced", False):
        if original is None:
            _missing.append(f"{module.__name__}.{attribute}")
        return

    @functools.wraps(original)
    def traced(*args, **kwargs):
        started = time.time()
        try:
            return original(*args, **kwargs)
        finally:
            _record(label(*args, **kwargs) if callable(label) else label, started, time.time())

    traced._bench_traced = True
    setattr(module, attribute, traced)


def _request_label(obj, cluster=None, method=None, *args, **kwargs) -> str:
    return f"http {method} {obj.get('kind', '?')}"


def flush() -> None:
    directory = os.environ.get("BENCH_TRACE_DIR")
    with _lock:
        events = list(_buffer)
        _buffer.clear()
    if not directory or not events:
        return
    with (Path(directory) / f"trace-{os.getpid()}.jsonl").open("a") as out:
        out.writelines(json.dumps(event) + "\n" for event in events)


def install() -> None:
    from celery.signals import task_postrun, task_prerun, worker_process_shutdown, worker_shutdown

    from labplatform.cluster import apply, students
    from labplatform.environments import steps as environment_work

    _wrap(apply, "_call", _request_label)
    _wrap(students, "_apply_all", "_apply_all (parallel applies)")
    _wrap(students, "student_token", "TokenRequest (student_token, with its 403 retries)")
    _wrap(students, "api_server_peers", "api_server_peers (GET Service + EndpointSlices)")
    _wrap(students, "student_kubeconfig", "kubeconfig render (student_kubeconfig)")
    _wrap(students, "workstation_kubeconfig_apply", "workstation_kubeconfig_apply (TokenRequest + Secret)")
    _wrap(students, "workstation_apply", "workstation_apply")
    _wrap(environment_work, "_load", "db: load row (_load)")
    _wrap(environment_work, "environment_spec", "spec (environment_spec)")
    _wrap(environment_work, "student_environment_apply", "student_environment_apply")
    _wrap(environment_work, "workstation_ready", "ready poll (GET pod)")
    _wrap(environment_work, "_provision", "_provision (apply + wait Ready)")
    # time.sleep is not wrapped: the wait for Ready is _provision less the apply.
    _wrap(environment_work, "_finish", "db: finish (update, refresh, provisioning_push)")
    _wrap(environment_work, "provisioning_push", "provisioning_push (count query + channel send)")

    @task_prerun.connect(weak=False)
    def _started(task_id=None, task=None, args=None, **_):
        _local.task = args[0] if args else task_id
        _local.task_started = time.time()

    @task_postrun.connect(weak=False)
    def _ended(task_id=None, task=None, args=None, **_):
        started = getattr(_local, "task_started", None)
        if started is not None:
            _record(f"task {task.name.rsplit('.', 1)[-1]}", started, time.time())
        _local.task = None
        flush()

    @worker_process_shutdown.connect(weak=False)
    def _child_exit(**_):
        flush()

    @worker_shutdown.connect(weak=False)
    def _exit(**_):
        flush()

    if _missing:
        _record("missing: " + ", ".join(_missing), time.time(), time.time())
