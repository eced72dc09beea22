"""`wait: rollout`: whether Deployments, ReplicaSets or Pods are Ready, still starting
(the check is pending), or broken in a way waiting will not fix (the check fails now:
a quota refused pods, an image cannot be pulled, a container keeps crashing)."""

from dataclasses import dataclass

from labplatform.cluster.reads import event_time
from lessons.grading.reads import ClusterReads

REVISION = "deployment.kubernetes.io/revision"
_PULL_FAILURES = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
_CONFIG_FAILURES = {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}


@dataclass(frozen=True)
class Ready:
    message: str = ""


@dataclass(frozen=True)
class Waiting:
    message: str


@dataclass(frozen=True)
class Broken:
    message: str


RolloutState = Ready | Waiting | Broken


def pod_is_ready(pod: dict) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _live(objects: list[dict]) -> list[dict]:
    return [obj for obj in objects if not obj["metadata"].get("deletionTimestamp")]


def pod_broken(pod: dict) -> Broken | None:
    """Why a pod will not become Ready by waiting, as the kubelet or scheduler reported it."""
    name, status = pod["metadata"]["name"], pod.get("status") or {}
    if status.get("phase") == "Failed":
        return Broken(f"pod {name} failed: {status.get('reason') or status.get('message') or 'its containers exited'}")
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "Unschedulable":
            return Broken(f"pod {name} cannot be scheduled: {condition.get('message', '')}".rstrip(": "))
    for container in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in _PULL_FAILURES:
            return Broken(f"pod {name}: image {container.get('image')} cannot be pulled ({reason})")
        if reason == "CrashLoopBackOff":
            restarts = container.get("restartCount", 0)
            return Broken(
                f"pod {name}: container {container['name']} keeps crashing "
                f"(CrashLoopBackOff, restarted {restarts} time{'s' if restarts != 1 else ''})"
            )
        if reason in _CONFIG_FAILURES:
            return Broken(
                f"pod {name}: container {container['name']} cannot start ({reason}): {waiting.get('message', '')}"
            )
    return None


def replica_set_refused(replica_set: dict, reads: ClusterReads) -> Broken | None:
    """A ReplicaSet short of pods because the API server refused them (a quota, an
    admission policy): its ReplicaFailure condition, else a FailedCreate event newer than
    its last created pod."""
    name = replica_set["metadata"]["name"]
    wanted = replica_set.get("spec", {}).get("replicas", 1)
    if (replica_set.get("status") or {}).get("replicas", 0) >= wanted:
        return None
    for condition in (replica_set.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            return Broken(f"ReplicaSet {name} cannot create pods: {condition.get('message', condition.get('reason'))}")
    # Events outlive what they tell (about an hour): a refusal during an earlier surge is
    # news only if no pod has been created since.
    events = reads.events_about(replica_set)
    created = max((event_time(e) for e in events if e.get("reason") == "SuccessfulCreate"), default="")
    refusals = [e for e in events if e.get("reason") == "FailedCreate" and event_time(e) > created]
    if refusals:
        return Broken(f"ReplicaSet {name} cannot create pods: {refusals[-1].get('message', '')}")
    return None


def _pods_state(pods: list[dict], wanted: int, owner: str) -> RolloutState:
    for pod in pods:
        broken = pod_broken(pod)
        if broken:
            return broken
    ready = sum(1 for pod in pods if pod_is_ready(pod))
    if ready < wanted:
        return Waiting(f"{owner}: waiting for {wanted - ready} of {wanted} pods to become Ready")
    return Ready()


def replica_set_state(replica_set: dict, reads: ClusterReads) -> RolloutState:
    pods = _live(reads.owned_by(replica_set, api_version="v1", kind="Pod"))
    wanted = replica_set.get("spec", {}).get("replicas", 1)
    pods_state = _pods_state(pods, wanted, f"ReplicaSet {replica_set['metadata']['name']}")
    if isinstance(pods_state, Broken):
        return pods_state
    return replica_set_refused(replica_set, reads) or pods_state


def deployment_replica_sets(deployment: dict, reads: ClusterReads) -> tuple[dict | None, list[dict]]:
    """The Deployment's current ReplicaSet (the one with its revision) and the others."""
    replica_sets = reads.owned_by(deployment, api_version="apps/v1", kind="ReplicaSet")
    revision = (deployment["metadata"].get("annotations") or {}).get(REVISION)
    current = next(
        (rs for rs in replica_sets if (rs["metadata"].get("annotations") or {}).get(REVISION) == revision), None
    )
    return current, [rs for rs in replica_sets if rs is not current]


def _rolled_out(deployment: dict) -> bool:
    """The Deployment controller's own verdict: every replica updated, ready and available,
    and none left over from an older template."""
    status = deployment.get("status") or {}
    wanted = deployment.get("spec", {}).get("replicas", 1)
    counts = ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
    return all(status.get(count, 0) == wanted for count in counts) and not status.get("unavailableReplicas")


def deployment_state(deployment: dict, reads: ClusterReads) -> RolloutState:
    name = deployment["metadata"]["name"]
    status = deployment.get("status") or {}
    if status.get("observedGeneration", 0) < deployment["metadata"].get("generation", 1):
        return Waiting(f"Deployment {name}: waiting for the Deployment controller to see the change")
    # The usual case at Check: settled. The Deployment says so; its ReplicaSets and pods
    # need not be read (two requests of three).
    if _rolled_out(deployment):
        return Ready()
    current, old = deployment_replica_sets(deployment, reads)
    wanted = deployment.get("spec", {}).get("replicas", 1)
    if current is None:
        return Waiting(f"Deployment {name}: waiting for its ReplicaSet to be created") if wanted else Ready()
    state = replica_set_state(current, reads)
    if isinstance(state, Waiting):
        # Students know their Deployment, not its ReplicaSet's generated name.
        return Waiting(state.message.replace(f"ReplicaSet {current['metadata']['name']}", f"Deployment {name}"))
    if isinstance(state, Broken):
        return state
    leftover = sum(len(_live(reads.owned_by(rs, api_version="v1", kind="Pod"))) for rs in old)
    if leftover:
        plural = "s" if leftover != 1 else ""
        return Waiting(f"Deployment {name}: waiting for {leftover} old pod{plural} to be replaced")
    # Its pods are Ready, and the Deployment controller has yet to count them in the
    # Deployment's status, which is what checks of the Deployment read (a check that read it
    # now would see readyReplicas short and fail a right answer).
    return Waiting(f"Deployment {name}: waiting for the Deployment controller to count its ready pods")


def pod_state(pod: dict) -> RolloutState:
    if (pod.get("status") or {}).get("phase") == "Succeeded" or pod_is_ready(pod):
        return Ready()
    return pod_broken(pod) or Waiting(f"Pod {pod['metadata']['name']}: waiting for it to become Ready")


def rollout_state(objects: list[dict], reads: ClusterReads) -> RolloutState:
    """The state of several objects: broken if one is, else waiting if one is, else ready."""
    states: list[RolloutState] = []
    for obj in objects:
        kind = obj.get("kind")
        if kind == "Deployment":
            states.append(deployment_state(obj, reads))
        elif kind == "ReplicaSet":
            states.append(replica_set_state(obj, reads))
        elif kind == "Pod":
            states.append(pod_state(obj))
    for wanted in (Broken, Waiting):
        found = [state for state in states if isinstance(state, wanted)]
        if found:
            return found[0]
    return Ready()
