"""The local cluster's real node, from the build side: build.sh's kubelet, containerd,
runc and kube-router (cached, stamped, at the pinned versions) and images.sh's OCI archives of the pause
and workstation images, read blob by blob; then a containerd of our build imports both
archives and runs them with our runc. Needs only the cache (a cold one is built first,
which takes minutes) and root (images.sh, containerd)."""

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import time
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "k8s" / "local" / "build.sh"
IMAGES = ROOT / "k8s" / "local" / "images.sh"
# A cold build of everything takes several minutes; a cached one, seconds.
BUILD_TIMEOUT = 3600

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="images.sh and containerd need root"),
    # The suite's 300 s per test covers fixtures too: a cold build is longer.
    pytest.mark.timeout(BUILD_TIMEOUT),
]


def pinned_versions() -> dict[str, str]:
    versions = {}
    for line in (ROOT / "k8s" / "local" / "versions.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            versions[name] = value.split(":-", 1)[1].rstrip("}")
    return versions


VERSIONS = pinned_versions()


def run(command: list, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )


def assignments(stdout: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


@pytest.fixture(scope="module")
def built() -> dict[str, Path]:
    result = run([BUILD, "kubernetes", "kubelet", "containerd", "runc", "cni", "kube-router"], timeout=BUILD_TIMEOUT)
    assert result.returncode == 0, result.stderr
    return {name: Path(value) for name, value in assignments(result.stdout).items()}


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    result = run([IMAGES], timeout=BUILD_TIMEOUT)
    assert result.returncode == 0, result.stderr
    return assignments(result.stdout)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def test_each_node_binary_reports_its_pinned_version(built):
    kube, containerd, runc = VERSIONS["KUBE_VERSION"], VERSIONS["CONTAINERD_VERSION"], VERSIONS["RUNC_VERSION"]
    assert run([built["KUBELET_BIN"] / "kubelet", "--version"]).stdout.strip() == f"Kubernetes {kube}"
    reported = run([built["CONTAINERD_BIN"] / "containerd", "--version"]).stdout
    assert reported.startswith(f"containerd github.com/containerd/containerd/v2 {containerd}"), reported
    assert containerd in run([built["CONTAINERD_BIN"] / "ctr", "--version"]).stdout
    assert containerd in run([built["CONTAINERD_BIN"] / "containerd-shim-runc-v2", "-v"]).stdout
    reported = run([built["RUNC_BIN"] / "runc", "--version"]).stdout
    assert reported.splitlines()[0] == f"runc version {runc.lstrip('v')}", reported
    assert "libseccomp: 2." in reported, "built with the seccomp tag"
    kube_router = VERSIONS["KUBE_ROUTER_VERSION"]
    reported = run([built["KUBE_ROUTER_BIN"] / "kube-router", "--version"]).stderr  # klog, to stderr
    assert f"kube-router version {kube_router}," in reported, reported


def test_each_node_binary_folder_is_stamped_with_every_binarys_checksum(built):
    expected = {
        "KUBELET_BIN": (f"kubelet-{VERSIONS['KUBE_VERSION']}", {"kubelet"}),
        "CONTAINERD_BIN": (
            f"containerd-{VERSIONS['CONTAINERD_VERSION']}",
            {"containerd", "ctr", "containerd-shim-runc-v2"},
        ),
        "RUNC_BIN": (f"runc-{VERSIONS['RUNC_VERSION']}", {"runc"}),
        "KUBE_ROUTER_BIN": (f"kube-router-{VERSIONS['KUBE_ROUTER_VERSION']}", {"kube-router"}),
    }
    for var, (folder, binaries) in expected.items():
        bin_dir = built[var]
        assert bin_dir.parent.name == folder and bin_dir.name == "bin", bin_dir
        assert {p.name for p in bin_dir.iterdir()} == binaries
        stamped = {}
        for line in (bin_dir.parent / ".complete").read_text().splitlines():
            checksum, name = line.split("  ", 1)
            stamped[name] = checksum
        assert stamped == {name: file_sha256(bin_dir / name) for name in binaries}, var


def test_the_kubelet_containerd_and_kube_router_are_static_and_runc_links_libseccomp(built):
    for binary in (
        built["KUBELET_BIN"] / "kubelet",
        built["CONTAINERD_BIN"] / "containerd",
        built["KUBE_ROUTER_BIN"] / "kube-router",
    ):
        assert "not a dynamic executable" in run(["ldd", binary]).stdout + run(["ldd", binary]).stderr, binary
    assert "libseccomp.so" in run(["ldd", built["RUNC_BIN"] / "runc"]).stdout


def test_the_cni_plugins_are_debians(built):
    assert built["CNI_BIN"] == Path("/usr/lib/cni")
    for plugin in ("bridge", "host-local", "loopback", "portmap"):
        assert os.access(built["CNI_BIN"] / plugin, os.X_OK), plugin


class OciArchive:
    """An OCI image layout in one tar, as `ctr images import` reads it; every blob read
    is checked against its digest."""

    def __init__(self, path: Path):
        self.path = path
        self.tar = tarfile.open(path)
        self.members = {
            PurePosixPath(m.name).relative_to(".").as_posix(): m for m in self.tar.getmembers() if m.name != "."
        }

    def file(self, name: str) -> bytes:
        return self.tar.extractfile(self.members[name]).read()

    def blob(self, descriptor: dict) -> bytes:
        algorithm, digest = descriptor["digest"].split(":", 1)
        assert algorithm == "sha256"
        data = self.file(f"blobs/sha256/{digest}")
        assert hashlib.sha256(data).hexdigest() == digest, descriptor
        assert len(data) == descriptor["size"], descriptor
        return data

    def manifest(self, reference: str) -> dict:
        assert json.loads(self.file("oci-layout")) == {"imageLayoutVersion": "1.0.0"}
        index = json.loads(self.file("index.json"))
        assert index["schemaVersion"] == 2
        named = [
            m
            for m in index["manifests"]
            if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == reference
        ]
        assert len(named) == 1, index
        assert named[0]["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
        manifest = json.loads(self.blob(named[0]))
        assert manifest["schemaVersion"] == 2
        return manifest

    def config(self, manifest: dict) -> dict:
        assert manifest["config"]["mediaType"] == "application/vnd.oci.image.config.v1+json"
        config = json.loads(self.blob(manifest["config"]))
        assert (config["os"], config["architecture"]) == ("linux", "amd64")
        assert len(config["rootfs"]["diff_ids"]) == len(manifest["layers"])
        return config

    def layers(self, manifest: dict):
        """Each layer as an open tarfile, its files' names without a leading ./ or /."""
        for descriptor in manifest["layers"]:
            assert descriptor["mediaType"].startswith("application/vnd.oci.image.layer.v1.tar"), descriptor
            yield tarfile.open(fileobj=io.BytesIO(self.blob(descriptor)))


def layer_path(member: tarfile.TarInfo) -> str:
    """A layer member's path without its leading ./ or /: etc/apt/sources.list."""
    name = member.name.removeprefix("./").lstrip("/")
    return "" if name == "." else name.rstrip("/")


@pytest.fixture(scope="module")
def pause(images) -> tuple[OciArchive, dict]:
    archive = OciArchive(Path(images["PAUSE_IMAGE_TAR"]))
    assert images["PAUSE_IMAGE"] == "localhost/labplatform/pause:3.10"
    return archive, archive.manifest(images["PAUSE_IMAGE"])


@pytest.fixture(scope="module")
def workstation(images) -> tuple[OciArchive, dict]:
    archive = OciArchive(Path(images["WORKSTATION_IMAGE_TAR"]))
    assert images["WORKSTATION_IMAGE"].startswith("localhost/labplatform/workstation:")
    return archive, archive.manifest(images["WORKSTATION_IMAGE"])


def test_the_image_archives_are_cached_with_a_stamp_that_verifies(images):
    for var in ("PAUSE_IMAGE_TAR", "WORKSTATION_IMAGE_TAR"):
        archive = Path(images[var])
        assert archive.parent.parent.name == "images" and archive.name == "image.tar"
        (line,) = (archive.parent / ".complete").read_text().splitlines()
        assert line == f"{file_sha256(archive)}  image.tar"
    again = run([IMAGES], timeout=600)
    assert again.returncode == 0, again.stderr
    assert assignments(again.stdout) == images
    assert "] pause: cached" in again.stderr and "] workstation: cached" in again.stderr, again.stderr
    assert ": done" not in again.stderr, again.stderr


def test_the_pause_image_is_a_static_pause_as_its_entrypoint(pause):
    archive, manifest = pause
    config = archive.config(manifest)
    assert config["config"]["Entrypoint"] == ["/pause"]
    assert config["config"]["User"] == "65535:65535"
    files = {}
    for layer in archive.layers(manifest):
        for member in layer.getmembers():
            if member.isfile():
                files[layer_path(member)] = (member, layer.extractfile(member).read())
    assert set(files) == {"pause"}
    member, data = files["pause"]
    assert member.mode & 0o111 and member.uid == 0
    assert data[:4] == b"\x7fELF"
    assert b"/lib64/ld-linux" not in data, "static: no interpreter"


def workstation_files(archive: OciArchive, manifest: dict) -> dict[str, tuple[tarfile.TarInfo, tarfile.TarFile]]:
    """Every path in any layer of the image (a later layer's entry wins), with its layer."""
    files = {}
    for layer in archive.layers(manifest):
        for member in layer.getmembers():
            files[layer_path(member)] = (member, layer)
    return files


@pytest.fixture(scope="module")
def workstation_layers(workstation):
    archive, manifest = workstation
    return workstation_files(archive, manifest)


def test_the_workstation_runs_tini_as_pid_1_as_the_student(workstation):
    archive, manifest = workstation
    config = archive.config(manifest)["config"]
    assert config["Entrypoint"] == ["/usr/bin/tini", "--"]
    assert config["Cmd"] == ["sleep", "infinity"]
    assert config["User"] == "1000:1000"
    assert config["WorkingDir"] == "/home/student"
    assert "HOME=/home/student" in config["Env"]
    assert "KUBECONFIG=/home/student/.kube/config" in config["Env"]


def test_no_workstation_layer_carries_this_machines_package_sources(workstation):
    archive, manifest = workstation
    for number, layer in enumerate(archive.layers(manifest)):
        for member in layer.getmembers():
            path = layer_path(member)
            where = f"layer {number}: {path}"
            assert path != "etc/apt/sources.list", where
            assert not (path.startswith("etc/apt/sources.list.d/") and not member.isdir()), where
            assert not path.startswith("etc/apt/apt.conf.d/99"), where
            assert not (path.startswith("var/lib/apt/lists/") and member.isfile() and not path.endswith("/lock")), where
            if path.startswith("etc/apt/") and member.isfile():
                text = layer.extractfile(member).read().decode(errors="replace")
                for setting in ("Proxy", "Check-Valid-Until", "Check-Date"):
                    assert setting.lower() not in text.lower(), f"{where} sets {setting}"


def test_the_workstation_has_our_kubectl_tini_and_the_session_command(workstation_layers, built):
    files = workstation_layers
    member, layer = files["usr/local/bin/kubectl"]
    assert member.isfile() and member.mode & 0o111
    digest = hashlib.sha256(layer.extractfile(member).read()).hexdigest()
    assert digest == file_sha256(built["KUBE_BIN"] / "kubectl"), "the kubectl of build.sh"
    for path in ("usr/bin/tini", "usr/local/libexec/labplatform-workstation"):
        member, _ = files[path]
        assert member.isfile() and member.mode & 0o111, path
    for path, source in (("etc/labplatform/tmux.conf", "tmux.conf"), ("etc/labplatform/bashrc", "bashrc")):
        member, layer = files[path]
        assert layer.extractfile(member).read() == (ROOT / "k8s" / "workstation" / source).read_bytes(), path
    assert "usr/share/bash-completion/completions/kubectl" in files
    # The pod's home is its own (an emptyDir): the shell's setup is system-wide.
    member, layer = files["etc/bash.bashrc"]
    assert ". /etc/labplatform/bashrc" in layer.extractfile(member).read().decode().splitlines()
    member, layer = files["etc/passwd"]
    assert "student:x:1000:1000::/home/student:/bin/bash" in layer.extractfile(member).read().decode().splitlines()
    assert not any(path.startswith("download/") or "context-bin" in path for path in files), (
        "the kubectl stage stays out"
    )


# containerd without its CRI plugins: these tests import and run images with ctr only.
CONTAINERD_CONFIG = """version = 3
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.cri.v1.runtime",
  "io.containerd.cri.v1.images",
]
"""


class Containerd:
    """A containerd of our build with its own root, state and socket, and our runc."""

    def __init__(self, base: Path, built: dict[str, Path]):
        self.base = base
        self.address = base / "containerd.sock"
        self.env = {**os.environ, "PATH": f"{built['CONTAINERD_BIN']}:{built['RUNC_BIN']}:{os.environ['PATH']}"}
        self.ctr_bin = built["CONTAINERD_BIN"] / "ctr"
        self.runc = built["RUNC_BIN"] / "runc"
        config = base / "config.toml"
        config.write_text(CONTAINERD_CONFIG)
        log_path = base / "containerd.log"
        self.log = log_path.open("w")
        command = [built["CONTAINERD_BIN"] / "containerd", "--config", config, "--address", self.address]
        command += ["--root", base / "root", "--state", base / "state"]
        self.process = subprocess.Popen(command, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while self.ctr("version").returncode != 0:
            assert self.process.poll() is None and time.monotonic() < deadline, log_path.read_text()[-3000:]
            time.sleep(0.2)

    def ctr(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        command = [self.ctr_bin, "--address", self.address, "--namespace", "k8s.io", *args]
        return run(command, timeout=timeout, env=self.env)

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """ctr run with our runc: [--detach] IMAGE ID [COMMAND...]."""
        return self.ctr("run", "--runc-binary", str(self.runc), *args)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


@contextlib.contextmanager
def running_containerd(base: Path, built: dict[str, Path]):
    """A Containerd in BASE, stopped and its folder removed at the end."""
    daemon = Containerd(base, built)
    try:
        yield daemon
    finally:
        daemon.stop()
        subprocess.run(["umount", "--recursive", "--quiet", str(base / "root")], check=False)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def containerd(tmp_path_factory, built):
    with running_containerd(tmp_path_factory.mktemp("containerd"), built) as daemon:
        yield daemon


def test_our_containerd_imports_both_archives_under_their_references_and_runs_them(containerd, images):
    for var in ("PAUSE_IMAGE", "WORKSTATION_IMAGE"):
        imported = containerd.ctr("images", "import", images[f"{var}_TAR"], timeout=300)
        assert imported.returncode == 0, imported.stderr
    listed = containerd.ctr("images", "list", "--quiet").stdout.split()
    assert images["PAUSE_IMAGE"] in listed and images["WORKSTATION_IMAGE"] in listed, listed

    pause = containerd.run("--rm", images["PAUSE_IMAGE"], "pause-v", "/pause", "-v")
    assert pause.returncode == 0 and pause.stdout.startswith("pause.c v3.10"), pause.stdout + pause.stderr
    kubectl = containerd.run("--rm", images["WORKSTATION_IMAGE"], "ws-kubectl", "kubectl", "version", "--client")
    assert kubectl.returncode == 0, kubectl.stderr
    assert f"Client Version: {VERSIONS['KUBE_VERSION']}" in kubectl.stdout
    whoami = containerd.run("--rm", images["WORKSTATION_IMAGE"], "ws-id", "id")
    assert whoami.stdout.strip() == "uid=1000(student) gid=1000(student) groups=1000(student)", whoami.stderr


def test_the_workstations_pid_1_reaps_orphans(containerd, images):
    """A shell's background job outlives it and is handed to PID 1; once it exits, PID 1 must
    collect it, or it stays a zombie (as it does under `sleep infinity` as PID 1)."""
    imported = containerd.ctr("images", "import", images["WORKSTATION_IMAGE_TAR"], timeout=300)
    assert imported.returncode == 0, imported.stderr
    started = containerd.run("--detach", images["WORKSTATION_IMAGE"], "ws-reap")
    assert started.returncode == 0, started.stderr
    try:
        orphan = containerd.ctr("task", "exec", "--exec-id", "orphan", "ws-reap", "bash", "-c", "(sleep 0.5 &) ; true")
        assert orphan.returncode == 0, orphan.stderr
        time.sleep(2)
        ps = containerd.ctr("task", "exec", "--exec-id", "ps", "ws-reap", "ps", "-eo", "pid,ppid,stat,comm")
        assert ps.returncode == 0, ps.stderr
        rows = [line.split() for line in ps.stdout.splitlines()[1:]]
        assert rows[0][:2] == ["1", "0"] and rows[0][3] == "tini", ps.stdout
        assert not [row for row in rows if row[2].startswith("Z")], ps.stdout
    finally:
        containerd.ctr("task", "kill", "--signal", "SIGKILL", "ws-reap")
        time.sleep(1)
        containerd.ctr("task", "delete", "--force", "ws-reap")
        containerd.ctr("container", "delete", "ws-reap")
