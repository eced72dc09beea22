"""The baseline: the same checks graded the way verify scripts do, one `kubectl` process per
assertion (`kubectl get deployment web -n NS -o jsonpath='{.spec.replicas}'`), plus
`kubectl rollout status` for a check that waits for a rollout. As the platform's own
identity, so the API server does the same authorisation work."""

import json
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import jmespath

from bench import cpu
from bench.kube import KUBECTL, PLATFORM_KUBECONFIG
from bench.report import summary

# A JMESPath that is also a JSONPath: dotted names with optional [N] indexes.
_SIMPLE_PATH = re.compile(r"[A-Za-z_]\w*(\[\d+\])?(\.[A-Za-z_]\w*(\[\d+\])?)*")
_UNARY = ("exists", "absent")


@dataclass(frozen=True)
class Command:
    argv: list[str]
    # How to judge the output: (path, op, value) for an assertion, None for rollout status.
    assertion: tuple[str, str, object] | None
    json_output: bool


def _kubectl(*args: str) -> list[str]:
    return [str(KUBECTL), "--kubeconfig", str(PLATFORM_KUBECONFIG), *args]


def _resource(target: dict) -> str:
    return target["kind"].lower()  # kubectl finds the group itself, as a script would let it


def commands_for(checks: list[dict], namespace: str) -> list[Command]:
    """One kubectl per assertion of each objects check (and one `rollout status` for a
    check that waits). Answer checks read nothing; other kinds are read once as JSON."""
    commands = []
    for check in checks:
        target = check.get("target")
        if not target:
            if check.get("kind") not in (None, "answer"):
                deployment = check.get("deployment", "web")
                argv = _kubectl("get", "deployment", deployment, "-n", namespace, "-o", "json")
                commands.append(Command(argv, None, True))
            continue
        by_name = [target["name"]] if target.get("name") else []
        selector = ["-l", ",".join(f"{k}={v}" for k, v in sorted((target.get("selector") or {}).items()))]
        where = by_name or (selector if target.get("selector") else [])
        for assertion in check.get("assert") or []:
            path, op = assertion["path"], assertion["op"]
            expected = assertion.get("value")
            if by_name and _SIMPLE_PATH.fullmatch(path):
                argv = _kubectl("get", _resource(target), *where, "-n", namespace, "-o", f"jsonpath={{.{path}}}")
                commands.append(Command(argv, (path, op, expected), False))
            else:
                argv = _kubectl("get", _resource(target), *where, "-n", namespace, "-o", "json")
                commands.append(Command(argv, (path, op, expected), True))
        if check.get("wait") == "rollout" and target["kind"] in ("Deployment", "StatefulSet", "DaemonSet"):
            name = target.get("name") or "web"
            argv = _kubectl("rollout", "status", f"{target['kind'].lower()}/{name}", "-n", namespace, "--timeout=60s")
            commands.append(Command(argv, None, False))
    return commands


def _judge(command: Command, completed: subprocess.CompletedProcess) -> bool:
    if completed.returncode != 0:
        return False
    if command.assertion is None:
        return True
    path, op, expected = command.assertion
    if command.json_output:
        data = json.loads(completed.stdout)
        if "items" in data:
            data = data["items"][0] if data["items"] else {}
        actual = jmespath.search(path, data)
    else:
        actual = completed.stdout
    if op in _UNARY:
        return (actual not in (None, "", [])) == (op == "exists")
    if op == "==":
        return str(actual) == str(expected)
    if op == "!=":
        return str(actual) != str(expected)
    return True  # other operators: the cost is the same; the platform judges them properly


@dataclass
class AttemptOutcome:
    seconds: float
    commands: int
    passed: bool


def _grade(checks: list[dict], namespace: str) -> AttemptOutcome:
    started = time.monotonic()
    passed = True
    commands = commands_for(checks, namespace)
    for command in commands:
        completed = subprocess.run(command.argv, capture_output=True, text=True, timeout=90, check=False)
        passed = _judge(command, completed) and passed
    return AttemptOutcome(time.monotonic() - started, len(commands), passed)


def _shown(argv: list[str]) -> str:
    return " ".join(argv).replace(str(KUBECTL), "kubectl").replace(str(PLATFORM_KUBECONFIG), "PLATFORM")


def run(*, checks: list[dict], namespaces: list[str], parallel: int) -> dict:
    """Grades one attempt per namespace, `parallel` attempts at a time; checks/s counts
    the task's checks, the same count as the platform's."""
    cpu_before = cpu.snapshot()
    started = time.monotonic()
    with ThreadPoolExecutor(parallel) as pool:
        outcomes = list(pool.map(lambda namespace: _grade(checks, namespace), namespaces))
    seconds = time.monotonic() - started
    cpu_after = cpu.snapshot()
    kubectl_processes = sum(o.commands for o in outcomes)
    return {
        "parallel": parallel,
        "attempts": len(namespaces),
        "checks": len(checks) * len(namespaces),
        "kubectl_processes": kubectl_processes,
        "kubectl_per_attempt": round(kubectl_processes / len(namespaces), 2) if namespaces else None,
        "passed": sum(o.passed for o in outcomes),
        "seconds": round(seconds, 3),
        "checks_per_s": round(len(checks) * len(namespaces) / seconds, 2) if seconds else None,
        "attempts_per_s": round(len(namespaces) / seconds, 2) if seconds else None,
        "per_attempt": summary([o.seconds for o in outcomes]),
        "example_commands": [_shown(c.argv) for c in commands_for(checks, "NS")],
        "cpu_seconds": cpu.delta(cpu_before, cpu_after, seconds=seconds),
    }
