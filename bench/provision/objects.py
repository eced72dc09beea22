"""The objects of one student, exactly as the platform builds them, for the baselines.

The spec comes from the platform's own `environment_spec` on unsaved rows, so a baseline
student gets the same quota preset, image, annotations and names as a platform student.
What differs: the exec rule names a fixed non-root uid (no Unix user is made), and the
workstation kubeconfig holds a placeholder token (no TokenRequest)."""

import yaml

from bench.provision import config
from labplatform.classroom.environment_work import environment_spec
from labplatform.classroom.models import Cluster, Cohort, Enrollment, StudentEnvironment, new_student_id
from labplatform.classroom.presets import DEFAULT_PRESET
from labplatform.cluster import manifests
from labplatform.cluster.local_users import LocalUser
from labplatform.cluster.students import StudentEnvironmentSpec, student_kubeconfig, student_namespace_objects

BASELINE_USER = LocalUser(name="nobody", uid=config.BASELINE_UID, gid=config.BASELINE_UID, home=config.BASELINE_HOME)


def baseline_spec(cluster: Cluster, cohort_slug: str) -> StudentEnvironmentSpec:
    cohort = Cohort(slug=cohort_slug, name=cohort_slug, cluster=cluster, quota_preset=DEFAULT_PRESET)
    enrollment = Enrollment(cohort=cohort, student_id=new_student_id())
    return environment_spec(StudentEnvironment(enrollment=enrollment))


def student_objects(spec: StudentEnvironmentSpec) -> list[dict]:
    """Namespace first, then what goes in or is bound to it, then the workstation's
    kubeconfig Secret and Pod: 14 objects, as labplatform applies them."""
    common = {
        "workstation_namespace": spec.workstation_namespace,
        "student_namespace": spec.namespace,
        "cohort": spec.cohort,
        "student": spec.student,
    }
    kubeconfig = yaml.safe_dump(student_kubeconfig(spec, config.PLACEHOLDER_TOKEN))
    pod = manifests.workstation_pod(**common, image=spec.workstation_image)
    pod["metadata"].setdefault("annotations", {}).update(spec.workstation_annotations)
    return [
        *student_namespace_objects(spec, exec_user=BASELINE_USER),
        manifests.workstation_kubeconfig_secret(**common, kubeconfig_yaml=kubeconfig),
        pod,
    ]
