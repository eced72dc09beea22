"""Keystroke echo: one character typed at the shell's prompt, timed until it comes back in
the output. Readline echoes it and tmux draws it, so this is the whole path a student
feels when typing. The line is emptied (Ctrl-U) every CLEAR_EVERY characters."""

import asyncio
import string
import time

from bench.terminal.terminals import Terminal

CLEAR_EVERY = 40
CLEAR_LINE = b"\x15"


async def echo_round_trips(terminal: Terminal, *, keys: int, gap: float) -> list[float]:
    """Seconds from sending each key to its echo; `gap` seconds between keys."""
    await terminal.quiet()
    latencies = []
    for i in range(keys):
        char = string.ascii_lowercase[i % 26]
        since = terminal.offset
        sent = time.perf_counter()
        await terminal.send(char.encode())
        latencies.append(await terminal.wait_for_text(char, since=since) - sent)
        if (i + 1) % CLEAR_EVERY == 0 or i + 1 == keys:
            await terminal.send(CLEAR_LINE)
            await terminal.quiet(seconds=0.05)
        await asyncio.sleep(gap)
    return latencies
