"""`service_port`: the port on its pods that a Service sends one of its ports to.

A Service's targetPort is a number, absent (the Service's own port; the API server fills
it in), or a name, which means nothing on the Service itself. As the EndpointSlice
controller resolves a name (verified with kubectl on the local cluster, Kubernetes 1.36):
each selected pod on its own, to the containerPort that one of its containers, or a
sidecar (an init container with restartPolicy: Always), gives that name with the Service
port's protocol (TCP unless said). Pods of two templates may resolve one name to two
ports; a pod that gives no port the name gets no traffic on it. Until a pod is selected,
the pod templates of the namespace's workloads whose labels the selector matches say
what their pods will declare."""

from dataclasses import dataclass
from typing import Any

from lessons.grading.derivation import selector_text, service_derivation, workloads_making
from lessons.grading.readiness import Waiting
from lessons.grading.reads import labels_match
from lessons.grading.results import CheckContext, CheckResult
from lessons.grading.templates import template_render

_SHOWN_PODS = 2


@dataclass(frozen=True)
class Declarer:
    """A pod, or a workload's pod template, and the pod spec its ports are declared in."""

    kind: str  # "Pod", or the workload's kind
    name: str
    spec: dict


def service_port_title(check: dict) -> str:
    return f"Service {check['service']} sends port {check['port']} to port {check['reaches']} on its pods"


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _who(declarers: list[Declarer]) -> tuple[str, bool]:
    """How a message names the pods or templates (at most two pods by name), and whether
    that is plural."""
    if declarers[0].kind != "Pod":
        owners = _and([f"{declarer.kind} {declarer.name}" for declarer in declarers])
        return (f"the pod template{'s' if len(declarers) > 1 else ''} of {owners}", len(declarers) > 1)
    names = [declarer.name for declarer in declarers]
    if len(names) > _SHOWN_PODS + 1:
        names = [*names[:_SHOWN_PODS], f"{len(names) - _SHOWN_PODS} more"]
    return (f"pod{'s' if len(declarers) > 1 else ''} {_and(names)}", len(declarers) > 1)


def _verb(singular: str, plural: bool) -> str:
    return singular.removesuffix("s") if plural else singular


def _container_ports(spec: dict) -> list[dict]:
    """The ports a name can resolve to: the containers', then the sidecars'."""
    containers = list(spec.get("containers") or [])
    containers += [c for c in spec.get("initContainers") or [] if c.get("restartPolicy") == "Always"]
    return [port for container in containers for port in container.get("ports") or []]


def _protocol(port: dict) -> str:
    return port.get("protocol") or "TCP"


def _named(spec: dict, name: str, protocol: str) -> int | None:
    ports = _container_ports(spec)
    return next((p["containerPort"] for p in ports if p.get("name") == name and _protocol(p) == protocol), None)


def _declared(spec: dict) -> str:
    ports = []
    for port in _container_ports(spec):
        number = str(port.get("containerPort")) + ("" if _protocol(port) == "TCP" else f"/{_protocol(port)}")
        ports.append(f"port {number} named {port['name']}" if port.get("name") else f"port {number} without a name")
    return _and(ports) if ports else "no container ports"


def _live(pod: dict) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return not pod["metadata"].get("deletionTimestamp") and phase not in ("Succeeded", "Failed")


def _selected(selector: dict, context: CheckContext) -> tuple[list[Declarer], bool]:
    """The live pods the selector matches, or else the pod templates of the workloads it
    matches (a Deployment's, not its ReplicaSets'); and whether these are pods."""
    pods = [
        Declarer("Pod", pod["metadata"]["name"], pod.get("spec") or {})
        for pod in context.reads.objects(api_version="v1", kind="Pod")
        if _live(pod) and labels_match(pod, selector)
    ]
    if pods:
        return sorted(pods, key=lambda declarer: declarer.name), True
    templates = [
        Declarer(workload["kind"], workload["metadata"]["name"], workload["spec"]["template"].get("spec") or {})
        for workload in workloads_making(context.reads, selector)
    ]
    return templates, False


@dataclass(frozen=True)
class Resolved:
    port: int | None  # None when the pods disagree or give no port the name
    why: str  # for a port: what the parentheses say; otherwise the whole message
    disagree: bool = False  # pods of two templates resolve the name two ways


def _resolve_name(service: dict, service_port: dict, reaches: int, context: CheckContext) -> Resolved:
    name, port = service["metadata"]["name"], service_port["port"]
    target, protocol = service_port["targetPort"], _protocol(service_port)
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:
        return Resolved(
            None,
            f"Service {name} has no selector, so no pod gives its targetPort {target} a port; "
            f"the check wants {reaches}.",
        )
    declarers, are_pods = _selected(selector, context)
    if not declarers:
        return Resolved(
            None,
            f"Service {name} selects {selector_text(selector)}, and nothing in namespace {context.namespace} has "
            "those labels (no pod, and no pod template of a Deployment or ReplicaSet), "
            f"so nothing gives its targetPort {target} a port; the check wants {reaches}.",
        )
    groups: dict[int | None, list[Declarer]] = {}
    for declarer in declarers:
        groups.setdefault(_named(declarer.spec, target, protocol), []).append(declarer)
    not_yet = "" if are_pods else "; the Service selects no pod yet"
    if len(groups) == 1 and None not in groups:
        [(resolved, named_by)] = groups.items()
        who, plural = _who(named_by)
        return Resolved(resolved, f"targetPort: {target}, which {who} {_verb('names', plural)} for {resolved}{not_yet}")
    if len(groups) == 1:
        return Resolved(None, _not_named(name, port, target, protocol, declarers, are_pods, reaches))
    parts = []
    for resolved, group in sorted(groups.items(), key=lambda item: (item[0] is None, item[0] or 0)):
        who, plural = _who(group)
        names = _verb("names", plural)
        parts.append(f"{who} {names} it for {resolved}" if resolved else f"{who} {names} no port {target}")
    return Resolved(
        None,
        f"Service {name} sends port {port} to targetPort {target}, which its pods resolve differently: "
        f"{_and(parts)}{not_yet}; the check wants {reaches} on every pod.",
        disagree=True,
    )


def _not_named(
    name: str, port: int, target: str, protocol: str, declarers: list[Declarer], are_pods: bool, reaches: int
) -> str:
    """Nothing the Service selects gives the name a port: what each does declare."""
    by_declared: dict[str, list[Declarer]] = {}
    for declarer in declarers:
        by_declared.setdefault(_declared(declarer.spec), []).append(declarer)
    said = []
    for declared, group in by_declared.items():
        who, plural = _who(group)
        said.append(f"{who} {_verb('declares', plural)} {declared}")
    # A port of that name under another protocol does not count (UDP 53 named dns for a TCP Service port).
    elsewhere = any(p.get("name") == target for declarer in declarers for p in _container_ports(declarer.spec))
    wanted = f"a {protocol} port" if elsewhere or protocol != "TCP" else "a port"
    nothing = "no pod it selects" if are_pods else "it selects no pod yet, and no pod template with its labels"
    return (
        f"Service {name} sends port {port} to targetPort {target}, but {nothing} names {wanted} {target}: "
        f"{'; '.join(said)}. The check wants {reaches}."
    )


def _resolve(service: dict, service_port: dict, reaches: int, context: CheckContext) -> Resolved:
    target = service_port.get("targetPort")
    if target is None:
        return Resolved(service_port["port"], "no targetPort, so the same as port")
    if isinstance(target, int):
        return Resolved(target, f"targetPort: {target}")
    return _resolve_name(service, service_port, reaches, context)


def _failed(title: str, message: str, check: dict, evidence: dict[str, Any]) -> CheckResult:
    hint = check.get("hint")
    return CheckResult(title, "failed", f"{message.removesuffix('.')}. {hint}" if hint else message, evidence)


def service_port_evaluate(check: dict, context: CheckContext) -> CheckResult:
    check = template_render(check, context.templates)
    name, port, reaches = check["service"], check["port"], check["reaches"]
    title = check.get("title") or service_port_title(check)
    found = context.reads.matching({"apiVersion": "v1", "kind": "Service", "name": name})
    if not found:
        return _failed(title, f"Service {name}: not found in namespace {context.namespace}", check, {})
    service = found[0]
    ports = (service.get("spec") or {}).get("ports") or []
    service_port = next((p for p in ports if p.get("port") == port), None)
    if service_port is None:
        numbers = [p.get("port") for p in ports]
        if len(numbers) > 1:
            has = f"its ports are {_and([str(number) for number in numbers])}"
        else:
            has = f"its only port is {numbers[0]}" if numbers else "it has no ports"
        return _failed(
            title, f"Service {name} has no port {port}: {has}.", check, {f"Service {name}": {"ports": numbers}}
        )
    resolved = _resolve(service, service_port, reaches, context)
    evidence = {
        f"Service {name}": {"port": port, "targetPort": service_port.get("targetPort"), "reaches": resolved.port}
    }
    if resolved.disagree:
        # Pods of two templates resolve a name two ways while a rollout replaces one with
        # the other: wait for it, as for any derived state.
        rolling = service_derivation(service, context.reads).state
        if isinstance(rolling, Waiting):
            return CheckResult(title, "pending", rolling.message, evidence)
    if resolved.port is None:
        return _failed(title, resolved.why, check, evidence)
    if resolved.port != reaches:
        message = (
            f"Service {name} sends port {port} to port {resolved.port} on the pods ({resolved.why}); "
            f"the check wants {reaches}."
        )
        return _failed(title, message, check, evidence)
    return CheckResult(title, "passed", "", evidence)
