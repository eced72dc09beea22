"""The terminal benchmark's report: browser against direct for each figure (the ratio to
the direct exec measured in the same run), then the floods, the stalled client and the
concurrency phase in words."""

import os

from bench.report import Column, Table, cell, ratio


def added(value: float | None, baseline: float | None) -> float | None:
    return round(value - baseline, 2) if value is not None and baseline is not None else None


def _met(flag: bool | None) -> str:
    return "-" if flag is None else ("met" if flag else "NOT met")


def _cores(cores: dict) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in cores.items() if v >= 0.01 and k != "machine") + (
        f" (machine {cores.get('machine', 0):.2f} of {os.cpu_count()})" if cores else ""
    )


def _get(data: dict | None, *keys: str):
    """data[k1][k2]..., or None where a phase was lost."""
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _compare(table: Table, name: str, phase: dict, keys: tuple[str, ...], goal: float | None = None) -> None:
    direct, browser = _get(phase, "direct", *keys), _get(phase, "browser", *keys)
    check = f"<= {goal:g} ms: {_met(browser <= goal if browser is not None else None)}" if goal else ""
    table.add(name, direct=direct, browser=browser, added=added(browser, direct), goal=check)


def blocks(results: dict) -> list:
    """What the report shows, in order: lines and tables."""
    echo, flood, marked, stall = results["echo"], results["flood"], results["marked_flood"], results["stall"]
    e = echo["comparison"]
    lines: list = [
        "direct = the bridge's own exec stream (workstation_terminal) from the benchmark process;",
        "browser = /ws/terminal/ over a real WebSocket to daphne, which opens that same exec.",
    ]
    if results["meta"].get("experiment"):
        lines.append(f"EXPERIMENT {results['meta']['experiment']}: daphne does NOT run the platform as it is")
    table = Table(
        "browser against direct, one student's shell",
        [Column("direct", "direct", 2), Column("browser", "browser", 2), Column("added", "added", 2),
         Column("goal", "goal")],
        ratio_of="browser",
        against_column="direct",
    )  # fmt: skip
    table.add("keystroke echo p50 ms", direct=e["direct_p50_ms"], browser=e["browser_p50_ms"],
              added=e["added_p50_ms"], goal=f"<= +2 ms: {_met(e['goal_p50_met'])}")  # fmt: skip
    table.add("keystroke echo p99 ms", direct=e["direct_p99_ms"], browser=e["browser_p99_ms"],
              added=e["added_p99_ms"], goal=f"<= +10 ms: {_met(e['goal_p99_met'])}")  # fmt: skip
    _compare(table, "keystroke echo max ms", echo, ("max_ms",))
    table.add("flood (yes) delivered KB/s", direct=_kb(_get(flood, "direct", "bytes_per_s")),
              browser=_kb(_get(flood, "browser", "bytes_per_s")))  # fmt: skip
    _compare(table, "flood: mean frame bytes", flood, ("mean_frame_bytes",))
    _compare(table, "Ctrl-C to prompt ms (yes)", flood, ("prompt_back_ms",), goal=300)
    _compare(table, "Ctrl-C to prompt ms (timestamps)", marked, ("prompt_back_ms",), goal=300)
    _compare(table, "screen lag p50 ms (timestamps)", marked, ("screen_lag", "p50_ms"))
    _compare(table, "screen lag p99 ms (timestamps)", marked, ("screen_lag", "p99_ms"))
    table.add("timestamps seen / printed", direct=_seen(marked.get("direct")), browser=_seen(marked.get("browser")))
    lines.append(table)
    lines += [
        "",
        f"echo: {_get(echo, 'browser', 'count')} keys per path in {echo['rounds']} alternating rounds, one client "
        f"attached at a time, {echo['gap_ms']:.0f} ms between keys.",
        "flood: tmux keeps the screen and redraws it for a client that falls behind, so the bytes delivered are tmux's "
        "redraws, not all that `yes` wrote; screen lag is how long after a timestamp was printed (among 2000-line "
        "bursts of y) it reached the client; only timestamps on screen when tmux drew are seen.",
    ]
    memory = results.get("flood_memory")
    if memory:
        web, store = memory["daphne"], memory["redis-server"]
        before, after = memory["redis_before"]["used_memory_mb"], memory["redis_after"]["used_memory_mb"]
        pod = memory.get("workstation") or {}
        lines.append(
            f"memory during the floods: the measured student's workstation pod (working set) "
            f"{pod.get('working_set_start_mb')} -> peak {pod.get('working_set_peak_mb')} MB (growth "
            f"{cell(ratio(pod.get('working_set_peak_mb'), pod.get('working_set_start_mb')), 2)}x); "
            f"daphne RSS {web['rss_start_mb']} -> peak {web['rss_peak_mb']} MB (VmHWM "
            f"{memory['daphne_vmhwm_mb']} MB); redis-server RSS peak {store['rss_peak_mb']} MB (growth "
            f"{store['rss_growth_mb']} MB), used_memory {before} -> {after} MB (Redis is shared with others; terminal "
            "output does not go through it)."
        )
    if stall:
        lines.append(
            f"stalled client ({stall['seconds']:g} s of yes, no acks): {stall['bytes_beyond_last_ack'] / 1024:.0f} KiB "
            f"beyond the last ack (limit 256 KiB + largest frame {stall['largest_frame_bytes'] / 1024:.0f} KiB: "
            f"{'within' if stall['within_limit'] else 'OVER'}), nothing more after {stall['held_back_after_s']} s; "
            f"daphne RSS peak {_get(stall, 'memory', 'daphne', 'rss_peak_mb')} MB; prompt back "
            f"{stall['prompt_back_ms']} ms after acking and Ctrl-C."
        )
    else:
        lines.append("stalled client: LOST on every attempt (see below)")
    if results.get("connections_lost"):
        lines.append(
            f"CONNECTIONS LOST mid-phase, {len(results['connections_lost'])} times (the phase is tried up to 3 times, "
            "then left out): " + "; ".join(results["connections_lost"])
        )
    if results.get("application_errors"):
        lines.append(f"daphne logged exceptions that ended connections: {results['application_errors']}")
    lines += _concurrency_lines(results.get("concurrency"), echo, results["meta"].get("node"))
    lines.append("")
    lines.append("cores used per phase (others = everything not on the terminal path, e.g. someone's tests):")
    for phase, cores in results["cores"].items():
        lines.append(f"  {phase:<28} {_cores(cores)}")
    return lines


def _kb(value: float | None) -> float | None:
    return value / 1000 if value is not None else None


def _seen(flood: dict | None) -> str | None:
    return f"{flood['markers_seen']}/{flood['markers_printed_at_least']}" if flood else None


def _node_line(c: dict, node: dict | None) -> str:
    if not node:
        return ""
    capped = (
        f"; capped from {node['students_asked']} students / {node['terminals_asked']} terminals asked"
        if node.get("students_asked") != node.get("students") or node.get("terminals_asked") != node.get("terminals")
        else ""
    )
    return (
        f"{c['terminals_asked']} terminals (the node holds {node['holds']} workstations by the scheduler's count, "
        f"{node['free']} free at the start; this run used {c['students'] + 1}{capped})"
    )


def _concurrency_lines(c: dict | None, echo: dict, node: dict | None = None) -> list[str]:
    if not c:
        return []
    lines = [
        "",
        _node_line(c, node),
        f"concurrency: {c['terminals_asked']} terminals on one fresh daphne ({c['students']} students, up to "
        f"{c['per_student']} each, all of a student's terminals attached to the same tmux session, so each echo is "
        f"drawn in all of them); opened {c['opened']} in {c['open_seconds']} s "
        f"(open p50 {c['open_time'].get('p50_ms')} ms, p99 {c['open_time'].get('p99_ms')} ms)",
    ]
    if c["failures"]:
        lines.append(
            f"  FAILED to open ({sum(c['failures'].values())} attempts; each terminal is tried twice): {c['failures']}"
        )
    if c.get("closed_while_typing"):
        lines.append(f"  CLOSED while typing: {c['closed_while_typing']}")
    if c.get("application_errors"):
        lines.append(f"  daphne logged exceptions that ended connections: {c['application_errors']}")
    per = c["rss_per_terminal_kib"]
    lines += [
        f"  daphne RSS with 0 terminals {c['rss_idle_mb']} MB, with {c['opened']} open {c['rss_open_mb']} MB: "
        f"{per} KiB per terminal (goal <= 1024 KiB: {_met(per is not None and per <= 1024)}); "
        f"peak while typing {c['typing_memory']['daphne']['rss_peak_mb']} MB; after closing all "
        f"{c['rss_after_close_mb']} MB",
        f"  workstation pods (working set, their cgroups on the node): {_get(c, 'workstations_idle', 'median_mb')} MB "
        f"median with no terminal, {_get(c, 'workstations_open', 'median_mb')} MB with theirs open (open/none "
        f"{cell(c.get('workstation_open_over_idle'), 2)}x, {c.get('workstation_kib_per_terminal')} KiB per terminal, "
        "the tmux server and shell included); "
        f"peak while typing median {_get(c, 'typing_workstation_peak_mb', 'median_mb')} MB, max "
        f"{_get(c, 'typing_workstation_peak_mb', 'max_mb')} MB; after closing "
        f"{_get(c, 'workstations_after_close', 'median_mb')} MB",
        f"  CPU per workstation pod while typing (cpuacct): median {_get(c, 'typing_cores_per_workstation', 'median')}"
        f" cores, max {_get(c, 'typing_cores_per_workstation', 'max')}; the probe's "
        f"{_get(c, 'typing_cores_per_workstation', 'probe')}",
        f"  echo while every terminal types a key every {c['key_interval_s']} s for {c['typing_seconds']} s: "
        f"{c['echo']['count']} keys, p50 {c['echo'].get('p50_ms')} ms, p99 {c['echo'].get('p99_ms')} ms, "
        f"max {c['echo'].get('max_ms')} ms; {c['echo_timeouts']} timed out; slowest (ms @ s into the typing): "
        + ", ".join(f"{s['ms']:.0f}@{s['at_s']:g}" for s in c.get("slowest_echo", [])),
        f"  baseline under the same load, one more shell typed into every {c['probe_interval_s']} s through each "
        f"path in turn: direct p50 {_get(c, 'probe', 'direct', 'p50_ms')} ms, p99 "
        f"{_get(c, 'probe', 'direct', 'p99_ms')} ms; browser p50 {_get(c, 'probe', 'browser', 'p50_ms')} ms, p99 "
        f"{_get(c, 'probe', 'browser', 'p99_ms')} ms (browser/direct p50 "
        f"{cell(ratio(_get(c, 'probe', 'browser', 'p50_ms'), _get(c, 'probe', 'direct', 'p50_ms')), 2)}x, p99 "
        f"{cell(ratio(_get(c, 'probe', 'browser', 'p99_ms'), _get(c, 'probe', 'direct', 'p99_ms')), 2)}x)",
        f"  ratio to the unloaded browser echo of this run: p50 "
        f"{cell(ratio(c['echo'].get('p50_ms'), echo['browser'].get('p50_ms')), 2)}x, p99 "
        f"{cell(ratio(c['echo'].get('p99_ms'), echo['browser'].get('p99_ms')), 2)}x; to the direct exec: p50 "
        f"{cell(ratio(c['echo'].get('p50_ms'), echo['direct'].get('p50_ms')), 2)}x, p99 "
        f"{cell(ratio(c['echo'].get('p99_ms'), echo['direct'].get('p99_ms')), 2)}x",
    ]
    return lines
