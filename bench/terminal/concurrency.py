"""Many terminals on one daphne process: its memory per open terminal beyond the process
with none, the workstation pods' memory (working set) with the terminals open beyond the
same pods with none, and the keystroke echo while every terminal types, with the echo of
one more shell through the direct exec and through daphne as the baseline under the same
load; CPU per workstation pod from its cgroup."""

import asyncio
import contextlib
import random
import statistics
import string
import time
from collections import Counter

import aiohttp

from bench.daphne import Daphne
from bench.report import ms, summary
from bench.terminal.cpu import CpuMeter
from bench.terminal.echo import CLEAR_EVERY, CLEAR_LINE
from bench.terminal.memory import RssSampler, WorkingSetSampler, mb, status_kb, working_set_summary, working_sets_kb
from bench.terminal.terminals import BrowserTerminal, DirectTerminal, Terminal, TerminalClosed, plain

SLOWEST = 10  # echoes kept with the time they happened, to tell a stall from a steady load
PROBE_INTERVAL = 0.1


async def _rss_kb(pid: int, *, seconds: float) -> float:
    """The median RSS over `seconds` (the process is not entirely still)."""
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        samples.append(status_kb(pid, "VmRSS"))
        await asyncio.sleep(0.1)
    return statistics.median(samples)


class _Typing:
    def __init__(self, *, until: float, key_interval: float) -> None:
        self.until, self.key_interval = until, key_interval
        self.started = time.perf_counter()
        self.latencies: list[float] = []
        self.slowest: list[tuple[float, float]] = []  # (latency, seconds into the typing)
        self.timeouts = 0

    async def student(self, terminals: list[BrowserTerminal]) -> None:
        """One student typing, in each of their terminals in turn: each terminal gets a
        key every key_interval seconds on average."""
        pause = self.key_interval / len(terminals)
        await asyncio.sleep(random.uniform(0, pause))
        typed = 0
        while time.perf_counter() < self.until:
            alive = [t for t in terminals if not t.closed]
            if not alive:
                return
            terminal = alive[typed % len(alive)]
            char = string.ascii_lowercase[typed % 26]
            since, sent = terminal.offset, time.perf_counter()
            try:
                await terminal.send(char.encode())
                latency = await terminal.wait_for_text(char, since=since, timeout=10) - sent
                self.latencies.append(latency)
                self.slowest = sorted([*self.slowest, (latency, sent - self.started)], reverse=True)[:SLOWEST]
            except TimeoutError:
                self.timeouts += 1
            except (TerminalClosed, aiohttp.ClientError):
                pass  # counted among the terminals closed while typing
            typed += 1
            if typed % CLEAR_EVERY == 0 and not terminal.closed:
                with contextlib.suppress(aiohttp.ClientError):
                    await terminal.send(CLEAR_LINE)
            await asyncio.sleep(max(0.0, pause - (time.perf_counter() - sent)))


async def _probe(terminals: dict[str, Terminal], *, until: float, interval: float) -> dict[str, list[float]]:
    """The baseline under load: one more student's shell, typed into through each path in
    turn (both attached, so each echo is drawn in both)."""
    latencies: dict[str, list[float]] = {path: [] for path in terminals}
    typed = 0
    while time.perf_counter() < until:
        for path, terminal in terminals.items():
            if terminal.closed:
                continue
            char = string.ascii_lowercase[typed % 26]
            since, sent = terminal.offset, time.perf_counter()
            with contextlib.suppress(TimeoutError, TerminalClosed, aiohttp.ClientError):
                await terminal.send(char.encode())
                latencies[path].append(await terminal.wait_for_text(char, since=since, timeout=10) - sent)
            typed += 1
            if typed % CLEAR_EVERY == 0:
                with contextlib.suppress(aiohttp.ClientError):
                    await terminal.send(CLEAR_LINE)
            await asyncio.sleep(interval)
    return latencies


class _Opener:
    """Opens terminals, `at_once` at a time, each after a failure once more (as the student
    would press Reconnect), and remembers what failed and why."""

    def __init__(self, http: aiohttp.ClientSession, daphne: Daphne, cookies: list[str], *, at_once: int) -> None:
        self.http, self.url, self.origin = http, daphne.websocket_url("/ws/terminal/"), daphne.base
        self.cookies = cookies
        self.gate = asyncio.Semaphore(at_once)
        self.opened: dict[int, list[BrowserTerminal]] = {}
        self.seconds: list[float] = []
        self.failures: Counter = Counter()

    async def open(self, student: int) -> None:
        for attempt in ("first", "reconnect"):
            terminal = BrowserTerminal(self.http, self.url, cookie=self.cookies[student], origin=self.origin)
            async with self.gate:
                started = time.perf_counter()
                try:
                    status = await terminal.open(timeout=60)
                    if status["type"] == "status":
                        await terminal.settle()
                except (TimeoutError, TerminalClosed, aiohttp.ClientError) as exc:
                    status = {"type": "error", "reason": f"{type(exc).__name__}: {exc}"[:160]}
            if status["type"] == "status" and not terminal.closed:
                self.seconds.append(time.perf_counter() - started)
                self.opened.setdefault(student, []).append(terminal)
                return
            last = plain(bytes(terminal.output[-300:])).strip().splitlines()
            why = f"{status.get('reason') or terminal.closed} (last output: {last[-1] if last else ''})"
            self.failures[f"{attempt}: {why}"] += 1
            await terminal.close()

    @property
    def all(self) -> list[BrowserTerminal]:
        return [terminal for group in self.opened.values() for terminal in group]


async def many_terminals(
    *,
    daphne: Daphne,
    probe_student: str,
    probe_cookie: str,
    cookies: list[str],
    terminals: int,
    per_student: int,
    open_at_once: int,
    key_interval: float,
    seconds: float,
    probe_workstation: str,
    workstations: list[str],
) -> dict:
    """`workstations`: the uid of each student's workstation pod, in the order of `cookies`;
    `probe_workstation`: the probe student's."""
    students = min(len(cookies), -(-terminals // per_student))
    result: dict = {"terminals_asked": terminals, "students": students, "per_student": per_student}
    loaded = {f"student {i}": uid for i, uid in enumerate(workstations[:students])}
    everyone = {**loaded, "probe": probe_workstation}
    # The pods before any terminal of theirs opened: tini and sleep, no tmux yet.
    idle_pods_kb = working_sets_kb(loaded)
    # Sockets to daphne are not pooled; the default limit of 100 would hold the rest back.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        warm = _Opener(http, daphne, cookies, at_once=1)  # imports and caches, before the baseline
        await warm.open(0)
        await asyncio.gather(*(t.close() for t in warm.all))
        await asyncio.sleep(1)
        idle_kb = await _rss_kb(daphne.pid, seconds=2)

        opener = _Opener(http, daphne, cookies, at_once=open_at_once)
        began = time.perf_counter()
        await asyncio.gather(*(opener.open(i % students) for i in range(terminals)))
        result.update(
            open_seconds=round(time.perf_counter() - began, 1),
            opened=len(opener.all),
            failures=dict(opener.failures),
            open_time=summary(opener.seconds),
        )
        await asyncio.sleep(2)
        open_kb = await _rss_kb(daphne.pid, seconds=2)
        open_pods_kb = working_sets_kb(loaded)
        both = [name for name in loaded if name in idle_pods_kb and name in open_pods_kb]
        pods_added_kb = sum(open_pods_kb[name] - idle_pods_kb[name] for name in both)
        opened_there = sum(len(opener.opened.get(int(name.split()[1]), [])) for name in both)
        result.update(
            rss_idle_mb=mb(idle_kb),
            rss_open_mb=mb(open_kb),
            rss_per_terminal_kib=round((open_kb - idle_kb) / len(opener.all)) if opener.all else None,
            workstations_idle=working_set_summary(idle_pods_kb),
            workstations_open=working_set_summary(open_pods_kb),
            workstation_kib_per_terminal=round(pods_added_kb / opened_there) if opened_there else None,
            workstation_open_over_idle=(
                round(sum(open_pods_kb[n] for n in both) / sum(idle_pods_kb[n] for n in both), 2) if both else None
            ),
        )

        probes: dict[str, Terminal] = {
            "direct": DirectTerminal(probe_student),
            "browser": BrowserTerminal(http, opener.url, cookie=probe_cookie, origin=opener.origin),
        }
        for terminal in probes.values():
            await terminal.open()
            await terminal.settle()
        typing = _Typing(until=time.perf_counter() + seconds, key_interval=key_interval)
        with CpuMeter(daphne_pids=(daphne.pid,), workstations=everyone) as cpu:
            async with RssSampler({"daphne": daphne.pid}) as sampler, WorkingSetSampler(everyone) as pods:
                *_, probed = await asyncio.gather(
                    *(typing.student(group) for group in opener.opened.values()),
                    _probe(probes, until=typing.until, interval=PROBE_INTERVAL),
                )
        await asyncio.gather(*(t.close() for t in probes.values()))
        result.update(
            key_interval_s=key_interval,
            typing_seconds=seconds,
            echo=summary(typing.latencies),
            slowest_echo=[{"ms": ms(latency), "at_s": round(at, 1)} for latency, at in typing.slowest],
            echo_timeouts=typing.timeouts,
            probe={path: summary(values) for path, values in probed.items()},
            probe_interval_s=PROBE_INTERVAL,
            typing_memory=sampler.result(),
            typing_workstation_peak_mb=_peaks(pods.result()),
            typing_cores=cpu.cores,
            typing_cores_per_workstation=_per_workstation(cpu.per_workstation),
            closed_while_typing=dict(Counter(t.closed for t in opener.all if t.closed)),
        )
        await asyncio.gather(*(t.close() for t in opener.all))
        await asyncio.sleep(3)
        result["rss_after_close_mb"] = mb(await _rss_kb(daphne.pid, seconds=1))
        result["workstations_after_close"] = working_set_summary(working_sets_kb(loaded))
    return result


def _peaks(sampled: dict[str, dict]) -> dict:
    peaks = [v["working_set_peak_mb"] for k, v in sampled.items() if k != "probe" and v["working_set_peak_mb"]]
    return {
        "median_mb": round(statistics.median(peaks), 1) if peaks else None,
        "max_mb": max(peaks, default=None),
        "probe_mb": sampled.get("probe", {}).get("working_set_peak_mb"),
    }


def _per_workstation(cores: dict[str, float]) -> dict:
    """Cores each typing student's pod used (median, max) and the probe's."""
    typing = [v for k, v in cores.items() if k != "probe"]
    return {
        "median": round(statistics.median(typing), 3) if typing else None,
        "max": max(typing, default=None),
        "probe": cores.get("probe"),
    }
