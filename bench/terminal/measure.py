"""The phases of a run, in order, on one student's shell: keystroke echo and floods, each
through the browser protocol and through the direct exec, alternating; a stalled client;
then many terminals on a fresh daphne."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import aiohttp

from bench.daphne import Daphne
from bench.report import ms, ratio, summary
from bench.terminal import config
from bench.terminal.concurrency import many_terminals
from bench.terminal.cpu import CpuMeter
from bench.terminal.echo import echo_round_trips
from bench.terminal.flood import flood, marked_flood, stalled
from bench.terminal.memory import RedisMemory, RssSampler, WorkingSetSampler, mb, status_kb
from bench.terminal.report import added
from bench.terminal.terminals import BrowserTerminal, DirectTerminal, Terminal, TerminalClosed
from labplatform.cluster.clients import close_async_clients

PATHS = ("direct", "browser")
T = TypeVar("T")


class Shell:
    """One student's shell, reached either way; one client attached at a time. A phase
    whose connection is lost midway (the platform's fault, recorded in `lost`) runs again
    on a new connection, at most ATTEMPTS times."""

    ATTEMPTS = 3

    def __init__(self, http: aiohttp.ClientSession, daphne: Daphne, *, student: str, cookie: str) -> None:
        self.http, self.daphne, self.student, self.cookie = http, daphne, student, cookie
        self.prepared = False
        self.lost: list[str] = []

    async def run(self, path: str, work: Callable[[Terminal], Awaitable[T]]) -> T | None:
        """What `work` returns, or None if the connection was lost on every attempt."""
        for _ in range(self.ATTEMPTS):
            terminal = self._terminal(path)
            try:
                await self._attach(terminal)
                return await work(terminal)
            except (TerminalClosed, aiohttp.ClientError) as exc:
                after = (terminal.closed_at or time.perf_counter()) - terminal.opened_at
                self.lost.append(f"{path}: {terminal.closed or exc} ({after:.1f} s after connecting)")
                self.prepared = False  # what the phase started may still run: interrupt it
            finally:
                await terminal.close()
        return None

    def _terminal(self, path: str) -> Terminal:
        if path == "direct":
            return DirectTerminal(self.student)
        url = self.daphne.websocket_url("/ws/terminal/")
        return BrowserTerminal(self.http, url, cookie=self.cookie, origin=self.daphne.base)

    async def _attach(self, terminal: Terminal) -> None:
        status = await terminal.open()
        if status["type"] != "status":
            raise TerminalClosed(f"the terminal did not open: {status}")
        if self.prepared:
            await terminal.settle()
            return
        await terminal.drawn()
        await terminal.send(b"\x03")  # whatever an interrupted phase left running
        await terminal.quiet(seconds=0.3)
        await terminal.prepare_shell()
        self.prepared = True


async def _echo(shell: Shell, args, meter: Callable[[], CpuMeter]) -> tuple[dict, dict]:
    latencies: dict[str, list[float]] = {path: [] for path in PATHS}
    per_round = args.keys // args.rounds
    with meter() as cpu:
        for number in range(args.rounds):
            for path in PATHS if number % 2 == 0 else reversed(PATHS):
                measured = await shell.run(
                    path, lambda terminal: echo_round_trips(terminal, keys=per_round, gap=args.key_gap)
                )
                latencies[path] += measured or []
    result = {path: summary(values) for path, values in latencies.items()}
    result["latencies_ms"] = {path: [ms(value) for value in values] for path, values in latencies.items()}
    direct, browser = result["direct"], result["browser"]
    result["comparison"] = {
        "direct_p50_ms": direct.get("p50_ms"),
        "browser_p50_ms": browser.get("p50_ms"),
        "direct_p99_ms": direct.get("p99_ms"),
        "browser_p99_ms": browser.get("p99_ms"),
        "added_p50_ms": added(browser.get("p50_ms"), direct.get("p50_ms")),
        "added_p99_ms": added(browser.get("p99_ms"), direct.get("p99_ms")),
        "ratio_p50": ratio(browser.get("p50_ms"), direct.get("p50_ms")),
        "ratio_p99": ratio(browser.get("p99_ms"), direct.get("p99_ms")),
    }
    comparison = result["comparison"]
    comparison["goal_p50_met"] = comparison["added_p50_ms"] is not None and comparison["added_p50_ms"] <= 2
    comparison["goal_p99_met"] = comparison["added_p99_ms"] is not None and comparison["added_p99_ms"] <= 10
    result.update(rounds=args.rounds, gap_ms=args.key_gap * 1000)
    return result, cpu.cores


async def measure(
    *,
    args,
    env: dict[str, str],
    logs: Path,
    students: list[str],
    cookies: list[str],
    workstations: list[str],
    say: Callable[[str], None],
) -> dict:
    """`workstations`: the uid of each student's workstation pod, in the order of `students`."""
    results: dict = {"cores": {}}
    redis_memory = RedisMemory(config.REDIS_URL)
    daphne = Daphne(env=env, log=logs / "daphne.log")
    measured = {"measured student": workstations[0]}

    def meter() -> CpuMeter:
        return CpuMeter(daphne_pids=(daphne.pid,), workstations=measured)

    try:
        daphne.serving()
        async with aiohttp.ClientSession() as http:
            shell = Shell(http, daphne, student=students[0], cookie=cookies[0])
            say(f"keystroke echo: {args.keys} keys per path")
            results["echo"], results["cores"]["echo (both paths)"] = await _echo(shell, args, meter)

            say(f"floods of {args.flood_seconds:g} s (yes, then timestamps among yes)")
            redis_before = redis_memory.used_mb()
            processes = {"daphne": daphne.pid, "redis-server": redis_memory.pid}
            async with RssSampler(processes) as sampler, WorkingSetSampler(measured) as pod:
                for name, run in (("flood", flood), ("marked_flood", marked_flood)):
                    results[name] = {}
                    for path in PATHS:
                        with meter() as cpu:
                            results[name][path] = await shell.run(
                                path, lambda terminal, run=run: run(terminal, seconds=args.flood_seconds)
                            )
                        results["cores"][f"{name} {path}"] = cpu.cores
            results["flood"]["ratio_bytes_per_s"] = ratio(
                (results["flood"]["browser"] or {}).get("bytes_per_s"),
                (results["flood"]["direct"] or {}).get("bytes_per_s"),
            )
            results["flood_memory"] = {
                **sampler.result(),
                "workstation": pod.result()["measured student"],
                "daphne_vmhwm_mb": mb(status_kb(daphne.pid, "VmHWM")),
                "redis_before": redis_before,
                "redis_after": redis_memory.used_mb(),
            }

            say(f"stalled client: {args.stall_seconds:g} s of yes without acks")
            async with RssSampler(processes) as sampler:
                results["stall"] = await shell.run(
                    "browser", lambda terminal: stalled(terminal, seconds=args.stall_seconds)
                )
            if results["stall"] is not None:
                results["stall"]["memory"] = sampler.result()
            results["connections_lost"] = shell.lost
    finally:
        daphne.stop()
        results["application_errors"] = daphne.application_errors()
        await close_async_clients()

    if args.terminals:
        say(f"{args.terminals} terminals on a fresh daphne ({args.students} students)")
        await asyncio.sleep(2)
        daphne = Daphne(env=env, log=logs / "daphne-concurrency.log")
        try:
            daphne.serving()
            results["concurrency"] = await many_terminals(
                daphne=daphne,
                probe_student=students[0],
                probe_cookie=cookies[0],
                cookies=cookies[1:],
                terminals=args.terminals,
                per_student=args.per_student,
                open_at_once=args.open_at_once,
                key_interval=args.key_interval,
                seconds=args.typing_seconds,
                probe_workstation=workstations[0],
                workstations=workstations[1:],
            )
            results["cores"]["typing under load"] = results["concurrency"].pop("typing_cores")
        finally:
            daphne.stop()
            results.setdefault("concurrency", {})["application_errors"] = daphne.application_errors()
            await close_async_clients()
    return results
