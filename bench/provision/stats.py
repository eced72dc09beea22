"""The analysis of the workers' traces (the platform's steps, from its trace hooks) and of
py-spy profiles."""

from collections import defaultdict
from pathlib import Path

from bench.report import summary

# The parts of a provisioning task, measured in the task's own thread; together with
# "other" they add up to the task's duration, i.e. the time it holds a worker slot.
_PARTS = [
    ("db: load row", ["environment.load"]),
    ("apply Namespace", ["cluster.apply Namespace"]),
    ("apply namespace objects in parallel", ["cluster.apply_parallel"]),
    ("GET API server Service + EndpointSlices", ["cluster.api_server_peers"]),
    ("TokenRequest (with 403 retries)", ["cluster.student_token"]),
    # In the task's own thread these are the workstation's (the namespace's are applied in parallel).
    (
        "apply workstation NetworkPolicy + Secret + Pod",
        ["cluster.apply NetworkPolicy", "cluster.apply Secret", "cluster.apply Pod"],
    ),
    # environment.provision less cluster.student_environment_apply: the pod starting on the
    # real node, asked after 0.05 s, then twice as long each time up to 1 s.
    ("wait for workstation pod Ready on the node (GET, backoff 0.05-1 s)", []),
    ("db: finish + progress_push", ["environment.finish"]),
]
# Every step the analysis reads, and the others a provisioning passes through: a step
# never seen in a run means a hook went missing (the table says so).
STEPS = {
    "environment.load", "environment.spec", "environment.provision", "environment.finish", "progress.push",
    "cluster.student_environment_apply", "cluster.apply_parallel", "cluster.api_server_peers",
    "cluster.student_token", "cluster.student_kubeconfig", "cluster.workstation_kubeconfig_apply",
    "cluster.workstation_apply", "cluster.workstation_ready", "cluster.apply Namespace", "cluster.apply Pod",
}  # fmt: skip


def analyse_traces(events: list[dict], *, started: float) -> dict:
    by_label: dict[str, list[float]] = defaultdict(list)
    per_task: dict[object, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    task_spans: dict[object, tuple[float, float]] = {}
    polls: dict[object, int] = defaultdict(int)
    for event in events:
        label, duration = event["l"], event["t1"] - event["t0"]
        by_label[label].append(duration)
        task = event.get("task")
        if task is None:
            continue
        per_task[task][label] += duration
        if label == "cluster.workstation_ready":
            polls[task] += 1
        if label.startswith("task "):
            task_spans[task] = (event["t0"], event["t1"])
    parts_total: dict[str, float] = defaultdict(float)
    for task, labels in per_task.items():
        if task not in task_spans:
            continue
        accounted = 0.0
        for part, sources in _PARTS:
            if sources:
                value = sum(labels.get(source, 0.0) for source in sources)
            else:
                value = labels.get("environment.provision", 0.0) - labels.get("cluster.student_environment_apply", 0.0)
            parts_total[part] += value
            accounted += value
        duration = task_spans[task][1] - task_spans[task][0]
        parts_total["other (Celery, spec, Python)"] += duration - accounted
    slot_seconds = sum(end - start for start, end in task_spans.values())
    starts = sorted(start - started for start, _ in task_spans.values())
    ends = sorted(end - started for _, end in task_spans.values())
    return {
        "tasks": len(task_spans),
        "task_duration": summary([end - start for start, end in task_spans.values()]),
        "first_task_start_s": round(starts[0], 3) if starts else None,
        "last_task_start_s": round(starts[-1], 3) if starts else None,
        "last_task_end_s": round(ends[-1], 3) if ends else None,
        "worker_slot_seconds": round(slot_seconds, 2),
        "slot_time_share_pct": {
            part: round(100 * value / slot_seconds, 1) if slot_seconds else 0.0
            for part, value in sorted(parts_total.items(), key=lambda kv: -kv[1])
        },
        "per_task_mean_ms": {
            part: round(1000 * value / max(1, len(task_spans)), 1)
            for part, value in sorted(parts_total.items(), key=lambda kv: -kv[1])
        },
        "ready_polls_per_task": {"mean": round(sum(polls.values()) / len(polls), 1), "max": max(polls.values())}
        if polls
        else None,
        "calls": {label: summary(values) for label, values in sorted(by_label.items())},
        "steps_not_seen": sorted(STEPS - set(by_label)) if task_spans else [],
    }


def _frame_module(frame: str) -> str:
    # py-spy raw frames look like "function (path/to/file.py:123)"
    if "(" not in frame:
        return frame
    location = frame[frame.rindex("(") + 1 : -1]
    return location.rsplit(":", 1)[0]


# Areas: a sample counts for the area of its innermost frame that has one.
_BUCKETS = [
    ("TLS / sockets (ssl, socket)", ["/ssl.py", "socket.py", "selectors.py"]),
    ("subprocess", ["subprocess.py"]),
    ("kubernetes client: serialize/deserialize", ["kubernetes/client/api_client.py", "kubernetes/client/models"]),
    ("kubernetes config / client setup", ["kubernetes/config", "kubernetes/client/configuration.py"]),
    ("urllib3 / http.client", ["urllib3/", "http/client.py"]),
    ("json / yaml", ["json/", "yaml/"]),
    ("PostgreSQL driver (psycopg)", ["psycopg"]),
    ("Django ORM", ["django/db/"]),
    ("Redis + channel layer (Celery broker/results, progress_push)", ["channels", "redis/", "asgiref/"]),
    ("Celery / kombu / billiard", ["celery/", "kombu/", "billiard/"]),
    ("threads / futures", ["threading.py", "concurrent/futures"]),
]


def _bucket(modules: list[str]) -> str:
    """The area of the innermost frame that belongs to one (modules: leaf first)."""
    for module in modules:
        for bucket, markers in _BUCKETS:
            if any(marker in module for marker in markers):
                return bucket
        if "/labplatform/" in module:
            return "labplatform's own code"
    return "other"


def analyse_py_spy(paths: list[Path], *, top: int = 25) -> dict:
    """py-spy `--format raw` output: collapsed stacks with a count at the end of each line."""
    self_counts: dict[str, int] = defaultdict(int)
    bucket_counts: dict[str, int] = defaultdict(int)
    labplatform_counts: dict[str, int] = defaultdict(int)
    total = 0
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
            if not frames:
                continue
            total += count
            self_counts[frames[-1]] += count
            modules = [_frame_module(f) for f in reversed(frames)]
            bucket_counts[_bucket(modules)] += count
            for frame in set(frames):
                module = _frame_module(frame)
                if "labplatform/" in module:
                    name = frame.split(" (")[0] + " " + module.split("labplatform/")[-1]
                    labplatform_counts[name] += count

    def share(counts: dict[str, int]) -> dict[str, float]:
        ordered = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
        return {key: round(100 * value / total, 1) for key, value in ordered} if total else {}

    return {
        "samples": total,
        "by_area_pct": share(bucket_counts),
        "self_top_pct": share(self_counts),
        "labplatform_inclusive_pct": share(labplatform_counts),
    }
