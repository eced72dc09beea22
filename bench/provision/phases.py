"""The three ways of provisioning N students, each on its own cohort label and student ids,
each timed until every workstation pod is Ready, each cleaning up after itself."""

import asyncio
import json
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml
from django.conf import settings
from django.db.models import Max, Min

from bench import cpu, stores
from bench.cli import say
from bench.kube import KUBECTL, PLATFORM_KUBECONFIG, Kube, credentials
from bench.provision import stats
from bench.provision.objects import baseline_spec, student_objects
from bench.provision.pods import ReadyWatcher, cleanup
from bench.report import code_identity, summary
from bench.spans import events_read
from bench.workers import Workers, WorkerSetting
from labplatform.cluster.rest import object_path
from labplatform.cohorts.models import Cluster
from labplatform.environments.models import StudentEnvironment
from labplatform.environments.services import cohort_provision

State = StudentEnvironment.State
WORKSTATION_NAMESPACE = settings.WORKSTATION_NAMESPACE


def rate(students: int, seconds: float | None) -> float | None:
    return round(students / seconds, 3) if seconds else None


def _ready_summary(watcher: ReadyWatcher, started: float) -> dict:
    times = sorted(t - started for t in watcher.ready.values())
    return {
        "pods_ready": len(times),
        "first_pod_ready_s": round(times[0], 3) if times else None,
        "last_pod_ready_s": round(times[-1], 3) if times else None,
        "watch_errors": watcher.errors,
        # Each workstation's start on the node, as the same watch saw it in every phase.
        "pod_start": {step: summary(values) for step, values in watcher.pod_start().items()},
        "pod_nodes": sorted(set(watcher.nodes.values())),
    }


def _cleanup(admin: Kube, cohort: str) -> float:
    say(f"cleaning up {cohort} (waiting until its namespaces are gone)")
    seconds = cleanup(admin, cohort, WORKSTATION_NAMESPACE)
    say(f"cleaned up {cohort} in {seconds:.1f}s")
    return round(seconds, 1)


# --- 1. labplatform's provisioner: Celery workers, the real task path -----------------------


class PySpy:
    """py-spy sampling the Python processes that run tasks (prefork children, or the worker
    itself for the threads pool), only while they hold the GIL: where Python spends CPU.
    Attached per process rather than with --subprocesses, which would also chase every
    process the workers start and slow it down."""

    def __init__(self, binary: str, worker_pids: list[int], out_dir: Path, rate_hz: int):
        children = [pid for pid in cpu.descendants(worker_pids) if pid not in worker_pids]
        pids = children or list(worker_pids)
        self.outputs = [out_dir / f"py-spy-{pid}.txt" for pid in pids]
        self.processes = []
        for pid, output in zip(pids, self.outputs, strict=True):
            command = [binary, "record", "--pid", str(pid), "--gil", "--nonblocking", "--rate", str(rate_hz),
                       "--format", "raw", "--output", str(output)]  # fmt: skip
            self.processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def stop(self) -> list[Path]:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        for process in self.processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        return self.outputs


def run_platform(
    *,
    students: int,
    setting: WorkerSetting,
    cohort_slug: str,
    admin: Kube,
    env: dict[str, str],
    timeout: float,
    traced: bool = True,
    py_spy: str | None = None,
    py_spy_rate: int = 50,
    keep_dir: Path | None = None,
    retry_failed: int = 1,
) -> dict:
    trace_dir = Path(tempfile.mkdtemp(prefix=f"{cohort_slug}-", dir=keep_dir))
    result: dict = {"phase": "platform", "setting": str(setting), "tag": setting.tag, "cohort": cohort_slug}
    result["worker_command"] = _worker_command(setting, traced=traced)
    workers = Workers(setting, tag=cohort_slug, log_dir=trace_dir, env={**env, "BENCH_TRACE_DIR": str(trace_dir)})
    watcher = ReadyWatcher(admin, WORKSTATION_NAMESPACE, cohort_slug)
    profiler = None
    started = 0.0
    try:
        began = time.monotonic()
        cohort = stores.cohort_with_students(slug=cohort_slug, students=students)
        result["db_setup_s"] = round(time.monotonic() - began, 2)
        say(f"platform [{setting}]: {students} students in cohort {cohort_slug}; starting workers")
        result["code"] = code_identity()  # what the workers import now
        workers.start(app="bench.provision.worker_app" if traced else "labplatform")
        watcher.start()
        if py_spy:
            profiler = PySpy(py_spy, workers.pids, trace_dir, py_spy_rate)
            time.sleep(1.0)  # let py-spy attach before the clock starts
        cpu_before = cpu.snapshot(workers.pids)
        started = time.time()
        queued = cohort_provision(cohort=cohort)
        result["queue_s"] = round(time.time() - started, 3)
        say(f"platform [{setting}]: queued {queued} tasks in {result['queue_s']}s; waiting for every environment")
        environments = StudentEnvironment.objects.filter(enrollment__cohort=cohort)
        provisioned = _provisioning_watch(
            cohort, environments, students=students, started=started, timeout=timeout, retry_failed=retry_failed
        )
        ended = time.time()
        cpu_after = cpu.snapshot(workers.pids)
        if profiler:
            result["py_spy"] = stats.analyse_py_spy(profiler.stop())
            result["py_spy"]["raw_files"] = [str(p) for p in profiler.outputs]
            profiler = None
        watcher.wait_for(students, timeout=5)
        result.update(
            _platform_figures(
                environments,
                provisioned,
                watcher,
                students=students,
                started=started,
                ended=ended,
                cpu_seconds=cpu.delta(cpu_before, cpu_after, seconds=ended - started),
            )
        )
        result["pod_ready_to_env_ready"] = _pod_ready_to_env_ready(environments, watcher)
        say(
            f"platform [{setting}]: {result['ready']}/{students} ready in {result['all_ready_s']}s "
            f"({result['students_per_s']} students/s), first after {result['first_ready_s']}s"
        )
    finally:
        if profiler:
            profiler.stop()
        watcher.stop()
        workers.stop()
        if traced:
            result["trace"] = stats.analyse_traces(events_read(trace_dir), started=started)
        result["trace_dir"] = str(trace_dir)
        result.update(_cohort_remove(admin, cohort_slug))
    return result


def _worker_command(setting: WorkerSetting, *, traced: bool) -> str:
    """The platform phase's workers, as a command line."""
    return (
        f"celery -A {'bench.provision.worker_app' if traced else 'labplatform'} worker "
        f"--pool {setting.pool} --concurrency {setting.concurrency}"
        + (f"  (x{setting.processes} processes)" if setting.processes > 1 else "")
    )


def _cohort_remove(admin: Kube, cohort_slug: str) -> dict:
    """Removes what the phase made, on the cluster and then in the database; how long each took."""
    removed = {"cleanup_s": _cleanup(admin, cohort_slug)}
    began = time.monotonic()
    stores.cohort_rows_remove(cohort_slug)
    removed["rows_removed_s"] = round(time.monotonic() - began, 1)
    return removed


@dataclass
class _Provisioned:
    """How a cohort's provisioning went, as run_platform watched it."""

    counts: dict[str, int]  # environments by state, at the end
    ramp: list[tuple[float, int]]  # (seconds, environments ready) at each change
    first_errors: list[str]  # the errors of environments that failed, then were provisioned again
    first_pass: float | None  # seconds until every environment was first ready or failed


def _provisioning_watch(
    cohort, environments, *, students: int, started: float, timeout: float, retry_failed: int
) -> _Provisioned:
    """Waits until every environment is ready or failed (provisioning the failed ones again,
    `retry_failed` times, as an admin would) or `timeout` seconds after `started` pass."""
    ramp: list[tuple[float, int]] = []
    last_report = 0.0
    retries_left, first_errors, first_pass = retry_failed, [], None
    while True:
        counts = dict.fromkeys(State.values, 0)
        for state in environments.values_list("state", flat=True):
            counts[state] += 1
        now = time.time() - started
        if not ramp or ramp[-1][1] != counts[State.READY]:
            ramp.append((round(now, 2), counts[State.READY]))
        if counts[State.READY] + counts[State.FAILED] >= students:
            first_pass = first_pass or now
            if not (counts[State.FAILED] and retries_left):
                break
            # What an admin does: press Provision again, which queues the failed ones.
            retries_left -= 1
            first_errors += environments.filter(state=State.FAILED).values_list("last_error", flat=True)
            say(f"  {now:5.0f}s: {counts[State.FAILED]} failed; provisioning the cohort again for them")
            cohort_provision(cohort=cohort)
            continue
        if now > timeout:
            break
        if now - last_report >= 10:
            say(f"  {now:5.0f}s: {counts[State.READY]} ready, {counts[State.FAILED]} failed")
            last_report = now
        time.sleep(0.2)
    return _Provisioned(counts=counts, ramp=ramp, first_errors=first_errors, first_pass=first_pass)


def _platform_figures(
    environments,
    provisioned: _Provisioned,
    watcher: ReadyWatcher,
    *,
    students: int,
    started: float,
    ended: float,
    cpu_seconds: dict,
) -> dict:
    """The platform phase's figures, from the environments' rows and the pods seen Ready."""
    counts, first_errors, first_pass = provisioned.counts, provisioned.first_errors, provisioned.first_pass
    window = environments.aggregate(first=Min("ready_at"), last=Max("ready_at"))
    failed = first_errors + list(environments.filter(state=State.FAILED).values_list("last_error", flat=True))
    ready = counts[State.READY]
    all_ready = ready == students
    last_ready = window["last"].timestamp() - started if window["last"] else None
    return {
        "students": students,
        "ready": ready,
        "failed": counts[State.FAILED],
        "failed_then_retried": len(first_errors),
        "first_pass_done_s": round(first_pass, 3) if first_pass else None,
        "failed_examples": failed[:10],
        "timed_out": not all_ready and counts[State.READY] + counts[State.FAILED] < students,
        "first_ready_s": round(window["first"].timestamp() - started, 3) if window["first"] else None,
        "all_ready_s": round(last_ready, 3) if all_ready and last_ready else None,
        "students_per_s": rate(students, last_ready) if all_ready else None,
        "ready_per_s": rate(ready, last_ready),
        "observed_s": round(ended - started, 3),
        "ramp": provisioned.ramp,
        "cpu_seconds": cpu_seconds,
        **_ready_summary(watcher, started),
    }


def _pod_ready_to_env_ready(environments, watcher: ReadyWatcher) -> dict:
    """How long after the pod is Ready does the platform mark the environment ready?"""
    ready_at = dict(environments.filter(ready_at__isnull=False).values_list("enrollment__student_id", "ready_at"))
    lags = [
        ready_at[student].timestamp() - watcher.ready[f"ws-{student}"]
        for student in ready_at
        if f"ws-{student}" in watcher.ready
    ]
    return summary(lags)


# --- 2. The kubectl loop an admin would write -------------------------------------------------


def run_kubectl(*, students: int, cohort_slug: str, admin: Kube, timeout: float) -> dict:
    result: dict = {"phase": "kubectl", "cohort": cohort_slug, "students": students}
    cluster = Cluster.objects.get(name="local")
    work = Path(tempfile.mkdtemp(prefix=f"{cohort_slug}-"))
    began = time.monotonic()
    files = []
    for i in range(students):
        path = work / f"student-{i:05d}.yaml"
        path.write_text(yaml.safe_dump_all(student_objects(baseline_spec(cluster, cohort_slug)), sort_keys=False))
        files.append(path)
    result["render_s"] = round(time.monotonic() - began, 2)
    command = [str(KUBECTL), "--kubeconfig", str(PLATFORM_KUBECONFIG), "apply", "--server-side", "-f"]
    result["command"] = " ".join([*command, "FILE"]).replace(str(Path.home()), "~")
    watcher = ReadyWatcher(admin, WORKSTATION_NAMESPACE, cohort_slug)
    watcher.start()
    try:
        say(f"kubectl loop: {students} students, one `kubectl apply --server-side` each, sequentially")
        cpu_before = cpu.snapshot()
        started = time.time()
        durations, failures = [], []
        for i, path in enumerate(files):
            t0 = time.time()
            done = subprocess.run([*command, str(path)], capture_output=True, text=True, check=False, timeout=120)
            durations.append(time.time() - t0)
            if done.returncode != 0:
                failures.append(done.stderr.strip()[:300])
            if (i + 1) % 50 == 0:
                say(f"  {time.time() - started:5.0f}s: {i + 1} applied")
        applied = time.time()
        all_ready = watcher.wait_for(students, timeout=timeout)
        ended = time.time()
        cpu_after = cpu.snapshot()
        pods = _ready_summary(watcher, started)
        last = pods["last_pod_ready_s"]
        result.update(
            {
                "apply_loop_s": round(applied - started, 3),
                "per_student_apply": summary(durations),
                "failed": len(failures),
                "failed_examples": failures[:5],
                "first_ready_s": pods["first_pod_ready_s"],
                "all_ready_s": last if all_ready else None,
                "students_per_s": rate(students, last) if all_ready else None,
                "cpu_seconds": cpu.delta(cpu_before, cpu_after, seconds=ended - started),
                **pods,
            }
        )
        say(
            f"kubectl loop: applied in {result['apply_loop_s']}s, all Ready at {result['all_ready_s']}s "
            f"({result['students_per_s']} students/s)"
        )
    finally:
        watcher.stop()
        shutil.rmtree(work, ignore_errors=True)
        result["cleanup_s"] = _cleanup(admin, cohort_slug)
    return result


# --- 3. A bare concurrent client: aiohttp, N requests in flight, no bookkeeping --------------


async def _bare_apply(all_objects: list[list[dict]], kubeconfig: Path, inflight: int) -> dict:
    creds = credentials(kubeconfig)
    context = ssl.create_default_context(cafile=creds.ca_file)
    if creds.cert_file:
        context.load_cert_chain(creds.cert_file, creds.key_file)
    headers = {"Accept": "application/json", "Content-Type": "application/apply-patch+yaml"}
    if creds.authorization:
        headers["Authorization"] = creds.authorization
    gate = asyncio.Semaphore(inflight)
    latencies: dict[str, list[float]] = {}
    failures: list[str] = []
    retries = 0
    queue: asyncio.Queue[list[dict]] = asyncio.Queue()
    for objects in all_objects:
        queue.put_nowait(objects)

    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=inflight, ssl=context),
        headers=headers,
        timeout=aiohttp.ClientTimeout(total=120),
    ) as session:

        async def apply(obj: dict) -> None:
            nonlocal retries
            url = f"{creds.host}{object_path(obj)}?fieldManager=labplatform&force=true"
            body = json.dumps(obj)
            for attempt in range(6):
                async with gate:
                    t0 = time.time()
                    async with session.patch(url, data=body) as response:
                        data = await response.read()
                    latencies.setdefault(obj["kind"], []).append(time.time() - t0)
                if response.status < 300:
                    return
                if response.status in (409, 429, 500, 503, 504) and attempt < 5:
                    retries += 1
                    await asyncio.sleep(0.1 * (attempt + 1))
                    continue
                failures.append(f"{obj['kind']} {obj['metadata']['name']}: {response.status} {data[:200]!r}")
                return

        async def student_loop() -> None:
            while not queue.empty():
                namespace, *rest = queue.get_nowait()
                await apply(namespace)
                await asyncio.gather(*(apply(obj) for obj in rest))

        # As many students at once as requests in flight, so the gate stays full and the
        # first students finish early rather than after every namespace.
        await asyncio.gather(*(student_loop() for _ in range(inflight)))
    return {
        "per_kind_latency": {kind: summary(values) for kind, values in sorted(latencies.items())},
        "failures": failures,
        "retries": retries,
    }


def run_bare(*, students: int, cohort_slug: str, admin: Kube, inflight: int, timeout: float) -> dict:
    result: dict = {"phase": "bare", "cohort": cohort_slug, "students": students, "inflight": inflight}
    cluster = Cluster.objects.get(name="local")
    began = time.monotonic()
    all_objects = [student_objects(baseline_spec(cluster, cohort_slug)) for _ in range(students)]
    result["render_s"] = round(time.monotonic() - began, 2)
    watcher = ReadyWatcher(admin, WORKSTATION_NAMESPACE, cohort_slug)
    watcher.start()
    try:
        say(f"bare client: {students} students, {inflight} requests in flight (aiohttp, platform identity)")
        cpu_before = cpu.snapshot()
        started = time.time()
        outcome = asyncio.run(_bare_apply(all_objects, PLATFORM_KUBECONFIG, inflight))
        applied = time.time()
        all_ready = watcher.wait_for(students, timeout=timeout)
        ended = time.time()
        cpu_after = cpu.snapshot()
        pods = _ready_summary(watcher, started)
        last = pods["last_pod_ready_s"]
        result.update(
            {
                "apply_s": round(applied - started, 3),
                "failed": len(outcome["failures"]),
                "failed_examples": outcome["failures"][:5],
                "retries": outcome["retries"],
                "per_kind_latency": outcome["per_kind_latency"],
                "first_ready_s": pods["first_pod_ready_s"],
                "all_ready_s": last if all_ready else None,
                "students_per_s": rate(students, last) if all_ready else None,
                "cpu_seconds": cpu.delta(cpu_before, cpu_after, seconds=ended - started),
                **pods,
            }
        )
        say(
            f"bare client: applied in {result['apply_s']}s, all Ready at {result['all_ready_s']}s "
            f"({result['students_per_s']} students/s)"
        )
    finally:
        watcher.stop()
        result["cleanup_s"] = _cleanup(admin, cohort_slug)
    return result
