"""The objects of one student, exactly as the platform applies them, for the baselines.

The spec comes from the platform's own `environment_spec` on unsaved rows, and the objects
from a dry run of the platform's own `student_environment_apply` that records each object
it would apply instead of sending it. So a baseline student gets the same objects as a
platform student (the workstation pod for the real node included), and keeps getting them
while the platform's code changes. What differs: the workstation kubeconfig holds a
placeholder token (no TokenRequest), and the API server's Service and EndpointSlices are
read once for all students."""

import threading
from contextlib import contextmanager

from bench.provision import config
from labplatform.cluster import students
from labplatform.cluster.students import StudentEnvironmentSpec
from labplatform.cohorts.models import Cluster, Cohort, Enrollment, new_student_id
from labplatform.cohorts.presets import DEFAULT_PRESET
from labplatform.environments.models import StudentEnvironment
from labplatform.environments.steps import environment_spec

_lock = threading.Lock()


def baseline_spec(cluster: Cluster, cohort_slug: str) -> StudentEnvironmentSpec:
    cohort = Cohort(slug=cohort_slug, name=cohort_slug, cluster=cluster, quota_preset=DEFAULT_PRESET)
    enrollment = Enrollment(cohort=cohort, student_id=new_student_id())
    return environment_spec(StudentEnvironment(enrollment=enrollment))


_peers: dict[str, object] = {}


def _cached(original):
    """api_server_peers reads the cluster; its answer is the same for every student."""

    def peers(*, name: str):
        if name not in _peers:
            _peers[name] = original(name=name)
        return _peers[name]

    return peers


@contextmanager
def _recording(applied: list[dict]):
    """students.* as the platform calls them, with writes recorded rather than sent."""
    with _lock:
        replaced = {
            "object_apply": lambda obj, *, cluster=None: applied.append(obj) or obj,
            "student_token": lambda spec, **_: config.PLACEHOLDER_TOKEN,
        }
        if hasattr(students, "api_server_peers"):
            replaced["api_server_peers"] = _cached(students.api_server_peers)
        originals = {name: getattr(students, name) for name in replaced}
        try:
            for name, value in replaced.items():
                setattr(students, name, value)
            yield
        finally:
            for name, value in originals.items():
                setattr(students, name, value)


def student_objects(spec: StudentEnvironmentSpec) -> list[dict]:
    """Everything `student_environment_apply(spec)` would apply, in its order: the
    Namespace first. (Objects applied in parallel come in whatever order the threads took.)"""
    applied: list[dict] = []
    with _recording(applied):
        students.student_environment_apply(spec)
    if not applied or applied[0]["kind"] != "Namespace":
        raise RuntimeError("the platform's apply no longer starts with the Namespace; update bench/provision")
    return applied
