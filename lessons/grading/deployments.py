"""Python check kinds about a Deployment's history: its pods replaced, a rollout, a rollback.

Rules, as verified with kubectl on the local cluster (Kubernetes 1.36):
- every rollout stamps the new ReplicaSet and the Deployment with the next
  `deployment.kubernetes.io/revision`; the current ReplicaSet is the one whose revision
  equals the Deployment's;
- `kubectl rollout undo` (like setting the template back to an earlier one) brings back
  the earlier ReplicaSet, gives it the next revision and records its former revisions in
  `deployment.kubernetes.io/revision-history` ("1", or "1,3").
"""

import datetime
from typing import Any

from lessons.grading.assertions import path_search
from lessons.grading.readiness import REVISION, Broken, Waiting, deployment_replica_sets, deployment_state, pod_state
from lessons.grading.results import CheckContext, CheckError, CheckResult

REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
_IMAGES = "spec.template.spec.containers[].image"


def _deployment(name: str, context: CheckContext) -> dict | None:
    found = context.reads.matching({"apiVersion": "apps/v1", "kind": "Deployment", "name": name})
    return found[0] if found else None


def _missing(name: str, context: CheckContext, title: str) -> CheckResult:
    return CheckResult(title, "failed", f"Deployment {name}: not found in namespace {context.namespace}")


def _annotation(obj: dict, key: str) -> str:
    return (obj["metadata"].get("annotations") or {}).get(key, "")


def _unobserved(title: str, deployment: dict, evidence: dict[str, Any]) -> CheckResult | None:
    """Pending while the Deployment controller has not yet acted on the latest change
    (a revision is stamped, a ReplicaSet chosen, only once it has)."""
    status = deployment.get("status") or {}
    if status.get("observedGeneration", 0) >= deployment["metadata"].get("generation", 1):
        return None
    message = f"Deployment {deployment['metadata']['name']}: waiting for the Deployment controller to see the change"
    return CheckResult(title, "pending", message, evidence)


def _rollout_result(title: str, deployment: dict, context: CheckContext, evidence: dict[str, Any]) -> CheckResult:
    state = deployment_state(deployment, context.reads)
    if isinstance(state, Broken):
        return CheckResult(title, "failed", state.message, evidence)
    if isinstance(state, Waiting):
        return CheckResult(title, "pending", state.message, evidence)
    return CheckResult(title, "passed", "", evidence)


def rollout_to_image_evaluate(check: dict, context: CheckContext) -> CheckResult:
    name, image = check["deployment"], check["image"]
    title = check.get("title") or f"Deployment {name} rolled out to {image}"
    deployment = _deployment(name, context)
    if deployment is None:
        return _missing(name, context, title)
    images = path_search(_IMAGES, deployment) or []
    revision = int(_annotation(deployment, REVISION) or 0)
    evidence = {f"Deployment {name}": {_IMAGES: images, f'metadata.annotations."{REVISION}"': revision}}
    unobserved = _unobserved(title, deployment, evidence)
    if unobserved:
        return unobserved
    if image not in images:
        message = f"Deployment {name}: expected image {image}, found {', '.join(images)}"
        return CheckResult(title, "failed", message, evidence)
    if revision < 2:
        message = (
            f"Deployment {name}: runs {image} but has not rolled out (revision {revision}); "
            "change the image of the existing Deployment"
        )
        return CheckResult(title, "failed", message, evidence)
    return _rollout_result(title, deployment, context, evidence)


def rolled_back_evaluate(check: dict, context: CheckContext) -> CheckResult:
    name, image = check["deployment"], check["image"]
    title = check.get("title") or f"Deployment {name} rolled back to {image}"
    deployment = _deployment(name, context)
    if deployment is None:
        return _missing(name, context, title)
    images = path_search(_IMAGES, deployment) or []
    unobserved = _unobserved(title, deployment, {f"Deployment {name}": {_IMAGES: images}})
    if unobserved:
        return unobserved
    current, _ = deployment_replica_sets(deployment, context.reads)
    history = _annotation(current, REVISION_HISTORY) if current else ""
    evidence: dict[str, Any] = {f"Deployment {name}": {_IMAGES: images}}
    if current:
        evidence[f"ReplicaSet {current['metadata']['name']}"] = {
            f'metadata.annotations."{REVISION}"': _annotation(current, REVISION),
            f'metadata.annotations."{REVISION_HISTORY}"': history,
        }
    if image not in images:
        message = f"Deployment {name}: expected image {image} after the rollback, found {', '.join(images)}"
        return CheckResult(title, "failed", message, evidence)
    if current is None:
        return CheckResult(title, "pending", f"Deployment {name}: waiting for its ReplicaSet to be created", evidence)
    if not history:
        message = (
            f"Deployment {name}: runs {image}, but not by bringing back an earlier ReplicaSet; "
            "roll out another image, then use kubectl rollout undo"
        )
        return CheckResult(title, "failed", message, evidence)
    return _rollout_result(title, deployment, context, evidence)


def _created(obj: dict) -> datetime.datetime:
    return datetime.datetime.fromisoformat(obj["metadata"]["creationTimestamp"].replace("Z", "+00:00"))


def pod_replaced_evaluate(check: dict, context: CheckContext) -> CheckResult:
    name, baseline_name = check["deployment"], check["baseline"]
    title = check.get("title") or f"A pod of Deployment {name} was replaced"
    if baseline_name not in context.templates.baseline:
        raise CheckError(f"pod_replaced: setup recorded no baseline named {baseline_name!r}")
    before = set(context.templates.baseline[baseline_name] or [])
    deployment = _deployment(name, context)
    if deployment is None:
        return _missing(name, context, title)
    current, old = deployment_replica_sets(deployment, context.reads)
    pods = [
        pod
        for replica_set in [rs for rs in (current, *old) if rs]
        for pod in context.reads.owned_by(replica_set, api_version="v1", kind="Pod")
        if not pod["metadata"].get("deletionTimestamp")
    ]
    now_uids = {pod["metadata"]["uid"] for pod in pods}
    deleted = sorted(before - now_uids)
    # Timestamps have whole seconds; a pod made in the second the task opened counts.
    opened = context.opened_at.replace(microsecond=0)
    replacements = [pod for pod in pods if pod["metadata"]["uid"] not in before and _created(pod) >= opened]
    evidence = {
        "deleted pod uids": deleted,
        "replacement pods": sorted(pod["metadata"]["name"] for pod in replacements),
    }
    if not deleted:
        message = f"Deployment {name}: every pod it had when the task opened is still there; delete one"
        return CheckResult(title, "failed", message, evidence)
    if not replacements:
        message = f"Deployment {name}: waiting for its ReplicaSet to create a replacement pod"
        return CheckResult(title, "pending", message, evidence)
    for pod in replacements:
        state = pod_state(pod)
        if isinstance(state, Broken):
            return CheckResult(title, "failed", state.message, evidence)
        if isinstance(state, Waiting):
            return CheckResult(title, "pending", state.message, evidence)
    return CheckResult(title, "passed", "", evidence)
