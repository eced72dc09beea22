"""The fill benchmark's students: how many the cluster admits, their namespaces as the
platform provisions them, what they make and write as themselves (their ServiceAccount's
token, through API Priority and Fairness as a student's shell would), the timed requests
of the others, one more student provisioned at the end, and the cleanup."""

import json
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import urllib3

from bench.cli import say
from bench.fill.objects import KINDS, Caps, Churn, fill_object
from bench.kube import PLATFORM_KUBECONFIG, Kube, credentials
from labplatform.cluster.manifests import COHORT_LABEL, MANAGED_BY, MANAGED_BY_LABEL

PREFIX = "benchfill-"
WORKSTATIONS = "labplatform-workstations"
_PARALLEL = 8


def _spec(cohort: str, student: str):
    from django.conf import settings

    from labplatform.cluster.students import StudentEnvironmentSpec
    from labplatform.cohorts.presets import PRESETS
    from labplatform.environments.steps import workstation_runtime

    preset = PRESETS["standard"]
    return StudentEnvironmentSpec(
        cluster="local",
        cohort=cohort,
        student=student,
        ingress_domain="labs.localhost",
        quota_hard=preset.hard,
        default_request=preset.default_request,
        default_limit=preset.default_limit,
        workstation_namespace=settings.WORKSTATION_NAMESPACE,
        workstation=workstation_runtime(preset),
        local=True,
    )


class StudentClient:
    """HTTP to the API server with one student's token."""

    def __init__(self, token: str, *, pool: int) -> None:
        found = credentials(PLATFORM_KUBECONFIG)
        self.host = found.host
        self.http = urllib3.PoolManager(
            maxsize=pool,
            cert_reqs="CERT_REQUIRED",
            ca_certs=found.ca_file,
            retries=False,
            timeout=urllib3.Timeout(connect=5, read=60),
        )
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def send(self, method: str, path: str, body: bytes | None = None) -> int:
        headers = {**self.headers, "Content-Type": "application/json"} if body is not None else self.headers
        try:
            return self.http.request(method, self.host + path, body=body, headers=headers).status
        except urllib3.exceptions.HTTPError:
            return 0  # no answer (a timeout, a reset): counted as refused


@dataclass
class Student:
    spec: Any  # labplatform.cluster.students.StudentEnvironmentSpec
    client: Any = None  # StudentClient, once their namespace is made

    @property
    def namespace(self) -> str:
        return self.spec.namespace


def _admitted(students: int) -> tuple[int, str]:
    """The largest cohort of the standard preset the platform's capacity check admits."""
    from labplatform.cluster.capacity import pod_capacity
    from labplatform.environments.capacity import preset_pods

    read = pod_capacity(name="local")
    per_student = preset_pods("standard") or 1
    others = sum(claim.pods for claim in read.claims.values())
    admitted = max(0, (read.allocatable_pods - others) // per_student)
    chosen = students or admitted
    words = (
        f"Capacity: the cluster's {read.student_nodes} nodes for students hold {read.allocatable_pods:,} pods, other "
        f"cohorts' quotas claim {others:,}: it admits {admitted} students of {per_student} pods. This run: {chosen}."
    )
    return chosen, words


@dataclass
class Run:
    admin: Kube
    caps: Caps
    cohort: str
    students: list[Student]
    writers: list[Student]
    probes: list[Student]
    capacity_words: str
    made: Counter = field(default_factory=Counter)

    @classmethod
    def admitted(cls, admin: Kube, *, caps: Caps, students: int, writers: int, probes: int) -> "Run":
        count, words = _admitted(students)
        if count < 2:
            raise SystemExit(f"{words} A run needs 2 students at least (a writer and a probe).")
        cohort = f"{PREFIX}{time.strftime('%H%M%S')}"
        everyone = [Student(spec=_spec(cohort, "s" + uuid.uuid4().hex[:9])) for _ in range(count)]
        writers = min(writers, count - 1)
        probes = min(probes, count - writers)
        return cls(admin, caps, cohort, everyone, everyone[:writers], everyone[writers : writers + probes], words)

    def namespaces(self) -> None:
        """Each namespace as provisioning makes it (no workstation), as the platform; then
        each student's own token."""
        from labplatform.cluster.apply import object_apply
        from labplatform.cluster.students import student_namespace_objects, student_token

        def provision(student: Student) -> None:
            for obj in student_namespace_objects(student.spec):  # the Namespace first
                object_apply(obj)
            student.client = StudentClient(student_token(student.spec), pool=8)

        with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
            list(pool.map(provision, self.students))

    def _room(self, student: Student) -> dict[str, int]:
        """What the student's quota leaves of each kind (the quota controller counts the
        namespace's own ConfigMap, kube-root-ca.crt, too)."""
        path = f"/api/v1/namespaces/{student.namespace}/resourcequotas/student-quota"
        for _ in range(100):
            status = self.admin.json("GET", path).get("status") or {}
            if status.get("used"):
                break
            time.sleep(0.2)
        hard, used = status.get("hard") or {}, status.get("used") or {}
        return {kind: int(hard.get(key, 0)) - int(used.get(key, 0)) for kind, (_, key) in KINDS.items()}

    def fill(self) -> int:
        work = []
        for student in self.students:
            for kind, room in self._room(student).items():
                work += [(student, kind, f"fill-{kind.lower()}-{i}") for i in range(room)]

        def make(item) -> None:
            student, kind, name = item
            body = json.dumps(fill_object(kind, name, self.caps)).encode()
            status = student.client.send("POST", KINDS[kind][0].format(ns=student.namespace), body)
            self.made[(kind, status)] += 1

        with ThreadPoolExecutor(max_workers=_PARALLEL) as pool:
            list(pool.map(make, work))
        refused = {f"{kind} {status}": n for (kind, status), n in self.made.items() if status != 201}
        if refused:
            say(f"refused while filling: {refused}")
        return sum(n for (_, status), n in self.made.items() if status == 201)

    def wait_pods_running(self, timeout: float = 600) -> None:
        """Until KWOK has moved every filled pod to Running (each step a write of the whole pod)."""
        deadline = time.monotonic() + timeout
        waiting = [s.namespace for s in self.students]
        while waiting and time.monotonic() < deadline:
            query = {"fieldSelector": "status.phase!=Running", "limit": "1"}
            waiting = [ns for ns in waiting if self.admin.json("GET", f"/api/v1/namespaces/{ns}/pods", query)["items"]]
            if waiting:
                time.sleep(2)
        if waiting:
            say(f"pods of {len(waiting)} namespaces are still not Running")

    def probe_for(self, seconds: float) -> list[float]:
        """Each probe student GETs their quota object, one request at a time, for `seconds`."""
        latencies: list[float] = []
        stop = time.monotonic() + seconds

        def loop(student: Student) -> None:
            path = f"/api/v1/namespaces/{student.namespace}/resourcequotas/student-quota"
            while time.monotonic() < stop:
                started = time.monotonic()
                if student.client.send("GET", path) == 200:
                    latencies.append(time.monotonic() - started)
                time.sleep(0.05)

        threads = [threading.Thread(target=loop, args=(s,)) for s in self.probes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return latencies

    def write_for(self, seconds: float, *, concurrency: int) -> dict:
        """Each writer rewrites its ConfigMaps as fast as the API server takes them."""
        stop = time.monotonic() + seconds
        statuses: Counter = Counter()
        latencies: list[float] = []
        written = [0]
        lock = threading.Lock()

        def loop(student: Student, churn: Churn, offset: int) -> None:
            turn = offset
            base = f"/api/v1/namespaces/{student.namespace}/configmaps/"
            while time.monotonic() < stop:
                name, body = churn.body(turn)
                started = time.monotonic()
                status = student.client.send("PUT", base + name, body)
                with lock:
                    statuses[status] += 1
                    if status == 200:
                        latencies.append(time.monotonic() - started)
                        written[0] += len(body)
                turn += concurrency

        threads = []
        for student in self.writers:
            names = [f"fill-configmap-{i}" for i in range(self.made_count(student, "ConfigMap"))] or [
                "fill-configmap-0"
            ]
            churn = Churn(names, self.caps)
            threads += [threading.Thread(target=loop, args=(student, churn, i)) for i in range(concurrency)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return {
            "writers": len(self.writers),
            "concurrency": concurrency,
            "bytes": written[0],
            "statuses": dict(statuses),
            "latencies": latencies,
        }

    def made_count(self, student: Student, kind: str) -> int:
        path = KINDS[kind][0].format(ns=student.namespace)
        items = self.admin.json("GET", path, {"limit": "500"})["items"]
        return sum(1 for item in items if item["metadata"]["name"].startswith("fill-"))


def provision_one(run: Run) -> dict:
    """One more student, provisioned by the worker's own code on the filled cluster: the
    capacity check's words for their cohort, and whether (and how fast) they are ready."""
    from bench.stores import cohort_rows_remove, cohort_with_students
    from labplatform.cohorts.models import Cohort
    from labplatform.environments import steps
    from labplatform.environments.capacity import cohort_capacity
    from labplatform.environments.models import StudentEnvironment

    slug = f"{run.cohort}-new"
    cohort_rows_remove(slug)
    cohort = cohort_with_students(slug=slug, students=1)
    enrollment = cohort.enrollments.get()
    environment = StudentEnvironment.objects.create(
        enrollment=enrollment, namespace=f"lab-{enrollment.student_id}", state=StudentEnvironment.State.PROVISIONING
    )
    said = cohort_capacity(cohort=Cohort.objects.get(pk=cohort.pk)).message()
    started = time.monotonic()
    steps.environment_provision_run(environment_id=environment.pk)
    seconds = time.monotonic() - started
    environment.refresh_from_db()
    state, error = environment.state, environment.last_error
    cohort_rows_remove(slug)
    words = (
        f"A new student provisioned on the filled cluster: {state} in {seconds:.1f} s"
        + (f" ({error})" if error else "")
        + f". Their cohort page said: {said}"
    )
    return {"state": state, "error": error, "seconds": round(seconds, 2), "capacity": said, "words": words}


def cleanup(admin: Kube, timeout: float = 600) -> None:
    """Every namespace and workstation object of a fill run (theirs or an earlier one's)."""
    namespaces = admin.json("GET", "/api/v1/namespaces", {"labelSelector": f"{MANAGED_BY_LABEL}={MANAGED_BY}"})
    ours = [
        ns["metadata"]["name"]
        for ns in namespaces["items"]
        if (ns["metadata"].get("labels") or {}).get(COHORT_LABEL, "").startswith(PREFIX)
    ]
    if not ours:
        return
    left: list = []
    say(f"removing {len(ours)} namespaces of fill runs")
    for name in ours:
        admin.request("DELETE", f"/api/v1/namespaces/{name}")
    for kinds in (
        "/api/v1/namespaces/{}/pods",
        "/api/v1/namespaces/{}/secrets",
        "/apis/networking.k8s.io/v1/namespaces/{}/networkpolicies",
    ):
        path = kinds.format(WORKSTATIONS)
        for item in admin.json("GET", path)["items"]:
            if (item["metadata"].get("labels") or {}).get(COHORT_LABEL, "").startswith(PREFIX):
                admin.request("DELETE", f"{path}/{item['metadata']['name']}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = [ns for ns in admin.json("GET", "/api/v1/namespaces")["items"] if ns["metadata"]["name"] in ours]
        if not left:
            return
        time.sleep(2)
    say(f"{len(left)} namespaces of fill runs are still terminating")
