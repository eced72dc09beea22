"""The platform's own image, built here as production builds it: the top-level Dockerfile,
by k8s/local/images.sh with buildah, from a Debian base with python3.11 and with the wheels
and browser libraries fetched beforehand (no network in the build). A containerd of our
build imports its OCI archive and runs it with our runc: the roles start as the
unprivileged user, `manage check` passes, and the web role serves /livez and the
browser libraries. Needs the cache and root, as test_node_images.py."""

import os
import time
from pathlib import Path

import pytest

from tests.integration.test_node_images import (
    BUILD,
    BUILD_TIMEOUT,
    IMAGES,
    OciArchive,
    assignments,
    layer_path,
    run,
    running_containerd,
)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="images.sh and containerd need root"),
    pytest.mark.timeout(BUILD_TIMEOUT),
]

# Settings for a container with no database, Redis or cluster: the roles tested here
# reach none of them (an address nothing listens on, and no kubeconfig).
ENV = {
    "SECRET_KEY": "image-test-only",
    "DATABASE_URL": "postgres://nobody:nobody@127.0.0.1:9/nobody",
    "REDIS_URL": "redis://127.0.0.1:9/0",
    "LABPLATFORM_KUBECONFIG": "/nonexistent/kubeconfig",
    "ALLOWED_HOSTS": "127.0.0.1",
}


@pytest.fixture(scope="module")
def node_binaries() -> dict[str, Path]:
    result = run([BUILD, "containerd", "runc"], timeout=BUILD_TIMEOUT)
    assert result.returncode == 0, result.stderr
    return {name: Path(value) for name, value in assignments(result.stdout).items()}


@pytest.fixture
def containerd(tmp_path_factory, node_binaries):
    with running_containerd(tmp_path_factory.mktemp("containerd"), node_binaries) as daemon:
        yield daemon


@pytest.fixture(scope="module")
def image() -> dict[str, str]:
    result = run([IMAGES, "platform"], timeout=BUILD_TIMEOUT)
    assert result.returncode == 0, result.stderr
    return assignments(result.stdout)


def env_args() -> list[str]:
    return [arg for name, value in ENV.items() for arg in ("--env", f"{name}={value}")]


def test_the_image_runs_as_its_own_user_with_its_entrypoint_and_no_build_leftovers(image):
    archive = OciArchive(Path(image["PLATFORM_IMAGE_TAR"]))
    assert image["PLATFORM_IMAGE"].startswith("localhost/labplatform/platform:")
    manifest = archive.manifest(image["PLATFORM_IMAGE"])
    config = archive.config(manifest)["config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["/app/scripts/entrypoint.sh"] and config["Cmd"] == ["web"]
    files = {layer_path(member) for layer in archive.layers(manifest) for member in layer.getmembers()}
    assert "app/staticfiles/vendor/@xterm/xterm/lib/xterm.js" in files, sorted(f for f in files if "vendor" in f)[:20]
    assert "opt/venv/bin/daphne" in files
    # The build's inputs stay in the build stages: no wheels, no node_modules, no apt sources.
    assert not [f for f in files if f.startswith(("prefetched", "app/node_modules"))]
    assert not [f for f in files if f.startswith("etc/apt/sources.list") and f.endswith((".list", ".sources"))]


def test_manage_check_passes_in_the_image_as_the_unprivileged_user(containerd, image):
    imported = containerd.ctr("images", "import", image["PLATFORM_IMAGE_TAR"], timeout=300)
    assert imported.returncode == 0, imported.stderr
    whoami = containerd.run("--rm", image["PLATFORM_IMAGE"], "platform-id", "id", "-u")
    assert whoami.stdout.strip() == "10001", whoami.stdout + whoami.stderr
    check = containerd.run(
        "--rm", *env_args(), image["PLATFORM_IMAGE"], "platform-check", "/app/scripts/entrypoint.sh", "manage", "check"
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "System check identified no issues" in check.stdout + check.stderr


def test_the_web_role_serves_livez_and_the_browser_libraries(containerd, image):
    imported = containerd.ctr("images", "import", image["PLATFORM_IMAGE_TAR"], timeout=300)
    assert imported.returncode == 0, imported.stderr
    # The container has a network namespace of its own with nothing in it; daphne listens
    # on a Unix socket besides its port, and the probe runs inside the container.
    started = containerd.run(
        "--detach", *env_args(), image["PLATFORM_IMAGE"], "platform-web",
        "/app/scripts/entrypoint.sh", "web", "-u", "/tmp/web.sock",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    probe = (
        "import http.client, socket, sys\n"
        "class Unix(http.client.HTTPConnection):\n"
        "    def connect(self):\n"
        "        self.sock = socket.socket(socket.AF_UNIX)\n"
        "        self.sock.connect('/tmp/web.sock')\n"
        "for path in sys.argv[1:]:\n"
        "    connection = Unix('127.0.0.1', timeout=5)\n"
        "    connection.request('GET', path)\n"
        "    answer = connection.getresponse()\n"
        "    print(path, answer.status, len(answer.read()))\n"
    )
    paths = ["/livez", "/static/vendor/@xterm/xterm/lib/xterm.js"]
    try:
        deadline = time.monotonic() + 60
        while True:
            served = containerd.ctr(
                "task", "exec", "--exec-id", f"probe{int(time.monotonic() * 1000)}", "platform-web",
                "python", "-c", probe, *paths,
            )  # fmt: skip
            if served.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert served.returncode == 0, served.stdout + served.stderr
        lines = served.stdout.split("\n")
        assert lines[0].startswith("/livez 200 "), served.stdout
        status, size = lines[1].split()[1:]
        assert status == "200" and int(size) > 100_000, served.stdout
    finally:
        containerd.ctr("task", "kill", "--signal", "SIGKILL", "platform-web")
        time.sleep(1)
        containerd.ctr("task", "delete", "--force", "platform-web")
        containerd.ctr("container", "delete", "platform-web")
