"""Exec into pods on the local cluster: an interactive TTY through the gateway's exec
stream, and containment of what KWOK runs on this host."""

import asyncio
import re
import socket
from contextlib import AsyncExitStack

import pytest

from labplatform.cluster.exec import STDERR, STDOUT, ExecStream, exec_stream
from tests.kube import (
    KWOK_GROUP,
    KWOK_VERSION,
    NOBODY,
    api_server_port,
    cluster_state_dir,
    component_ports,
    pods_ready,
    wait_for,
)

pytestmark = [pytest.mark.local_cluster, pytest.mark.usefixtures("async_gateway", "gateway_as_admin")]

SHELL = ["setsid", "-c", "bash", "--norc", "--noprofile", "-i"]


async def read_until(stream: ExecStream, pattern: bytes, *, timeout: float = 15) -> bytes:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen = b""
    while pattern not in seen:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"did not see {pattern!r} within {timeout}s; last output: {seen[-400:]!r}")
        try:
            output = await stream.read(timeout=remaining)
        except TimeoutError:
            continue
        if output is None:
            raise AssertionError(f"the stream ended before {pattern!r}; output: {seen[-400:]!r}")
        seen += output.data
    return seen


async def run(namespace: str, pod: str, script: str) -> tuple[int, str, str]:
    """Runs a bash script without a TTY; returns exit code, stdout and stderr."""
    out, err = b"", b""
    async with exec_stream(namespace=namespace, pod=pod, command=["bash", "-c", script], tty=False) as stream:
        while (output := await stream.read(timeout=30)) is not None:
            if output.channel == STDOUT:
                out += output.data
            elif output.channel == STDERR:
                err += output.data
        status = stream.exit_status or {}
    if status.get("status") == "Success":
        code = 0
    else:
        causes = status.get("details", {}).get("causes", [])
        code = int(next((c["message"] for c in causes if c.get("reason") == "ExitCode"), "-1"))
    return code, out.decode(), err.decode()


def can_connect(port: int) -> str:
    # bash's /dev/tcp opens a TCP connection; the exit code says whether it was accepted.
    return f"exec 3<>/dev/tcp/127.0.0.1/{port} && echo open || echo refused"


@pytest.mark.asyncio
async def test_an_exec_with_a_tty_gives_an_interactive_shell(namespace, ready_pod):
    async with exec_stream(namespace=namespace, pod=ready_pod, command=SHELL) as shell:
        await read_until(shell, b"test$ ")
        await shell.write(b"echo sum=$((6 * 7))\r")
        assert b"sum=42" in await read_until(shell, b"sum=42")

        await shell.resize(cols=123, rows=45)
        await shell.write(b"stty size\r")
        await read_until(shell, b"45 123")

        await shell.write(b"tty; id -u\r")
        output = await read_until(shell, f"{NOBODY}".encode())
        assert re.search(rb"/dev/pts/\d+", output)
        await shell.write(b"exit\r")


@pytest.mark.asyncio
async def test_ctrl_c_interrupts_a_running_sleep_and_the_prompt_comes_back(namespace, ready_pod):
    async with exec_stream(namespace=namespace, pod=ready_pod, command=SHELL) as shell:
        await read_until(shell, b"test$ ")
        await shell.write(b"sleep 30; echo slept\r")
        await asyncio.sleep(0.5)
        await shell.write(b"\x03")
        await read_until(shell, b"test$ ", timeout=5)
        await shell.write(b"echo after=$((1 + 1))\r")
        output = await read_until(shell, b"after=2")
        assert b"slept" not in output


@pytest.mark.asyncio
async def test_exec_runs_as_a_non_root_user_within_limits(namespace, ready_pod):
    code, out, _ = await run(namespace, ready_pod, "id -u; id -g; ulimit -u; ulimit -n; ulimit -v")
    assert code == 0
    uid, gid, processes, open_files, virtual_kb = out.split()
    assert (uid, gid) == (str(NOBODY), str(NOBODY))
    assert (processes, open_files, virtual_kb) == ("512", "8192", str(4 * 1024 * 1024))


@pytest.mark.asyncio
async def test_exec_reaches_the_api_server_and_no_other_cluster_port(namespace, ready_pod):
    code, out, _ = await run(namespace, ready_pod, can_connect(api_server_port()))
    assert (code, out.strip()) == (0, "open"), "the API server must stay reachable for kubectl"

    others = {
        f"{component} {port_name}": port
        for component, ports in component_ports().items()
        if component != "kube-apiserver"
        for port_name, port in ports.items()
    }
    assert {"etcd http", "etcd peer-http", "kwok-controller http"} <= others.keys()
    for name, port in others.items():
        _, out, err = await run(namespace, ready_pod, can_connect(port))
        assert out.strip() == "refused", f"{name} (port {port}) is reachable from an exec: {err}"


@pytest.fixture
def host_listener():
    """A port listening on the host's loopback, standing in for the platform's own ports."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.mark.asyncio
async def test_exec_cannot_reach_the_platforms_own_services(namespace, ready_pod, host_listener):
    for name, port in [("Redis", 6379), ("PostgreSQL", 5433), ("a port listening on the host", host_listener)]:
        _, out, _ = await run(namespace, ready_pod, can_connect(port))
        assert out.strip() == "refused", f"{name} is reachable from an exec"


@pytest.mark.asyncio
async def test_exec_cannot_use_the_relays_unix_sockets(namespace, ready_pod):
    relay_dir = cluster_state_dir() / "relay"
    assert (relay_dir / "api.sock").is_socket()
    for relay in ("api.sock", "kwok.sock"):
        code, _, err = await run(namespace, ready_pod, f"socat -u /dev/null UNIX-CONNECT:{relay_dir / relay}")
        assert code != 0
        assert "Permission denied" in err


@pytest.mark.asyncio
async def test_exec_into_a_pod_without_an_exec_rule_runs_nothing(core, other_namespace):
    core.create_namespaced_pod(
        other_namespace,
        {"metadata": {"name": "plain"}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}},
    )
    wait_for("the pod to be Ready", lambda: pods_ready(core, other_namespace, "", 1))
    code, out, _ = await run(other_namespace, "plain", "id -u")
    assert code != 0
    assert out == ""


def test_there_is_no_catch_all_exec_rule(custom):
    rules = custom.list_cluster_custom_object(KWOK_GROUP, KWOK_VERSION, "clusterexecs")["items"]
    for rule in rules:
        selector = rule["spec"].get("selector") or {}
        assert selector.get("matchNamespaces"), f"ClusterExec {rule['metadata']['name']} matches every namespace"
    namespaced = custom.list_cluster_custom_object(KWOK_GROUP, KWOK_VERSION, "execs")["items"]
    assert all(rule["metadata"]["namespace"] for rule in namespaced)


@pytest.mark.asyncio
async def test_more_exec_streams_than_a_connection_pool_holds_open_at_once(namespace, ready_pod):
    """Every open terminal holds an exec stream; a pool limit (aiohttp's default is 100)
    would make the next one wait and time out."""
    count = 110
    # `head -n 1` ends after its line: KWOK leaves an exec'd process running when its
    # stream closes, and 110 leftover processes a run would soon reach the process limit.
    async with AsyncExitStack() as streams:
        opened = await asyncio.gather(
            *[
                streams.enter_async_context(
                    exec_stream(namespace=namespace, pod=ready_pod, command=["head", "-n", "1"], tty=False)
                )
                for _ in range(count)
            ]
        )
        for stream in opened:
            await stream.write(b"still-here\n")
        for stream in opened:
            assert (await stream.read(timeout=15)).data == b"still-here\n"
    assert len(opened) == count
