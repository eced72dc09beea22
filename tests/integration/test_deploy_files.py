"""The files that deploy labplatform, checked without a container engine (there is none in
CI): docker-compose.yml against the Compose specification's JSON schema (compose-go's,
from the Go module proxy), every Dockerfile with hadolint, and every file a Dockerfile
copies exists in its build context."""

import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest
import yaml

from labplatform.cluster import manifests, terminals

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPOSE = ROOT / "docker-compose.yml"
# The Compose specification's schema as docker compose itself validates with it.
COMPOSE_GO = "github.com/compose-spec/compose-go/v2"
COMPOSE_GO_VERSION = "v2.16.2"
DOCKERFILES = {
    # Dockerfile: its build context (as in docker-compose.yml and the READMEs)
    ROOT / "Dockerfile": ROOT,
    ROOT / "k8s" / "workstation" / "Dockerfile": ROOT / "k8s" / "workstation",
    ROOT / "k8s" / "images" / "rag-api" / "Dockerfile": ROOT / "k8s" / "images" / "rag-api",
}


@pytest.fixture(scope="session")
def compose_schema() -> Path:
    """compose-spec.json from the pinned compose-go module; the Go module cache keeps it,
    so only the first run on a machine downloads it."""
    go = shutil.which("go")
    if go is None:
        pytest.fail("Go is needed to fetch the Compose schema (README: Requirements)")
    result = subprocess.run(
        [go, "mod", "download", "-json", f"{COMPOSE_GO}@{COMPOSE_GO_VERSION}"],
        cwd="/",
        env={**os.environ, "GOFLAGS": "-mod=mod", "GO111MODULE": "on"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"go mod download {COMPOSE_GO}@{COMPOSE_GO_VERSION}:\n{result.stdout}{result.stderr}"
    schema = Path(json.loads(result.stdout)["Dir"]) / "schema" / "compose-spec.json"
    assert schema.is_file(), schema
    return schema


def check_jsonschema(schema: Path, document: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "check-jsonschema"), "--schemafile", str(schema), str(document)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_compose_file_follows_the_compose_specification(compose_schema):
    result = check_jsonschema(compose_schema, COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_refuses_a_compose_file_that_breaks_the_specification(compose_schema, tmp_path):
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["web"]["depends_on"]["postgres"]["condition"] = "service_ready"
    document = tmp_path / "docker-compose.yml"
    document.write_text(yaml.safe_dump(broken))
    result = check_jsonschema(compose_schema, document)
    assert result.returncode != 0
    assert "service_ready" in result.stdout


def test_services_start_in_order_once_what_they_need_is_healthy_or_done(compose):
    services = compose["services"]

    def needs(service: str) -> dict[str, str]:
        return {name: d["condition"] for name, d in services[service].get("depends_on", {}).items()}

    ready = {"postgres": "service_healthy", "redis": "service_healthy"}
    done = {"migrate": "service_completed_successfully", "bootstrap": "service_completed_successfully"}
    assert needs("web") == needs("worker") == {**ready, **done}
    assert needs("migrate") == {"postgres": "service_healthy"}
    assert needs("bootstrap") == {"k3s": "service_healthy", "images": "service_completed_successfully"}
    assert needs("seed") == {"redis": "service_healthy", **done}
    for service in ("postgres", "redis", "k3s", "web"):
        assert services[service]["healthcheck"]["test"], service
    assert "/livez" in " ".join(services["web"]["healthcheck"]["test"])
    assert [services[role]["command"] for role in ("web", "worker", "beat", "migrate")] == [
        ["web"],
        ["worker"],
        ["beat"],
        ["migrate"],
    ]


def test_k3s_is_reached_by_name_and_the_platform_uses_its_own_token(compose):
    services = compose["services"]
    assert services["k3s"]["privileged"] is True
    assert "--tls-san=k3s" in services["k3s"]["command"]
    bootstrap = (ROOT / "k8s" / "compose" / "bootstrap.sh").read_text()
    assert "s#https://127.0.0.1:6443#https://k3s:6443#" in bootstrap
    assert "-k /k8s/platform/overlays/compose" in bootstrap
    for role in ("web", "worker", "beat"):
        environment = services[role]["environment"]
        assert environment["LABPLATFORM_KUBECONFIG"] == "/platform-kube/platform-kubeconfig", role
        assert "platform-kube:/platform-kube:ro" in services[role]["volumes"], role
        assert "k3s-output:/k3s-output" not in services[role]["volumes"], (
            "the k3s admin kubeconfig is not the platform's"
        )


def test_every_variable_the_compose_file_requires_is_in_the_env_example():
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", COMPOSE.read_text()))
    example = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert required == {"SECRET_KEY", "POSTGRES_PASSWORD", "K3S_TOKEN"}
    assert required <= example


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_hadolint_finds_nothing(dockerfile):
    result = subprocess.run(
        [str(BIN / "hadolint"), "--no-color", "--failure-threshold", "style", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, with continuation lines joined."""
    joined, parts = [], []
    for line in dockerfile.read_text().splitlines():
        if not parts and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if parts and line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            parts.append(line.rstrip()[:-1])
            continue
        joined.append(" ".join([*parts, line]))
        parts = []
    return [(text.split(None, 1)[0].upper(), text.split(None, 1)[1]) for text in joined]


def copy_sources(dockerfile: Path) -> list[str]:
    """Sources of COPY and ADD from the build context (not --from another stage or image)."""
    sources = []
    for instruction, arguments in instructions(dockerfile):
        if instruction not in {"COPY", "ADD"}:
            continue
        words = json.loads(arguments) if arguments.lstrip().startswith("[") else shlex.split(arguments)
        flags = [w for w in words if w.startswith("--")]
        if any(flag.startswith("--from=") for flag in flags):
            continue
        sources.extend([w for w in words if not w.startswith("--")][:-1])
    return sources


def dockerignored(context: Path) -> list[str]:
    ignore = context / ".dockerignore"
    if not ignore.exists():
        return []
    return [line for line in ignore.read_text().splitlines() if line and not line.startswith(("#", "!"))]


@pytest.mark.parametrize(("dockerfile", "context"), DOCKERFILES.items(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_file_a_dockerfile_copies_is_in_its_build_context(dockerfile, context):
    sources = copy_sources(dockerfile)
    assert sources, f"{dockerfile} copies nothing?"
    ignored = dockerignored(context)
    for source in sources:
        assert (context / source).exists(), f"{dockerfile}: COPY {source}: no {context / source}"
        assert not any(fnmatch(source, pattern) for pattern in ignored), f"{source} is in .dockerignore"


def test_the_parser_sees_every_copy_of_the_platform_image():
    assert copy_sources(ROOT / "Dockerfile") == [
        "package.json",
        "package-lock.json",
        "prefetched/",
        "requirements.txt",
        "prefetched/",
        "manage.py",
        "labplatform",
        "lessons",
        "manage.py",
        "labplatform",
        "lessons",
        "scripts/entrypoint.sh",
    ]


def test_the_scripts_the_images_run_are_executable():
    for script in (
        ROOT / "scripts" / "entrypoint.sh",
        ROOT / "k8s" / "workstation" / "labplatform-workstation",
        ROOT / "k8s" / "compose" / "bootstrap.sh",
    ):
        assert script.stat().st_mode & stat.S_IXUSR, f"{script} is not executable"


def test_the_platform_image_runs_the_entrypoint_as_a_non_root_user():
    steps = instructions(ROOT / "Dockerfile")
    final = steps[max(i for i, (name, _) in enumerate(steps) if name == "FROM") :]
    assert ("USER", "10001:10001") in final
    assert ("ENTRYPOINT", '["/app/scripts/entrypoint.sh"]') in final
    assert ("CMD", '["web"]') in final
    assert any(name == "RUN" and "collectstatic" in args for name, args in steps)


def test_the_workstation_image_is_what_the_workstation_pod_expects():
    dockerfile = (ROOT / "k8s" / "workstation" / "Dockerfile").read_text()
    assert f"USER {manifests.WORKSTATION_USER}:{manifests.WORKSTATION_USER}" in dockerfile
    assert f"--uid {manifests.WORKSTATION_USER} " in dockerfile
    assert f"--home-dir {manifests.WORKSTATION_HOME} " in dockerfile
    assert f"COPY labplatform-workstation {terminals.SESSION_COMMAND}" in dockerfile
    pod = manifests.workstation_pod(
        workstation_namespace="labplatform-workstations",
        student_namespace="lab-x1",
        cohort="c",
        student="x1",
        runtime=manifests.WorkstationRuntime(image="i"),
    )
    (shell,) = pod["spec"]["containers"]
    assert shell["command"] == ["/usr/bin/tini", "--"]
    assert shell["args"] == ["sleep", "infinity"]
    mounts = {mount["mountPath"] for mount in shell["volumeMounts"]}
    assert {manifests.WORKSTATION_HOME, f"{manifests.WORKSTATION_HOME}/.kube", "/tmp"} <= mounts
    for tool in ("bash-completion", "curl", "jq", "nano", "tmux", "vim"):
        assert re.search(rf"\b{tool}\b", dockerfile), tool


def test_the_workstation_kubectl_is_the_clusters_minor_version():
    versions = (ROOT / "k8s" / "local" / "versions.env").read_text()
    cluster = re.search(r"KUBE_VERSION:-(v\d+\.\d+)\.\d+", versions).group(1)
    kubectl = re.search(r"ARG KUBECTL_VERSION=(v\d+\.\d+)\.\d+", (ROOT / "k8s/workstation/Dockerfile").read_text())
    assert kubectl.group(1) == cluster
