"""Output floods: `yes` at the prompt while the client reads, then Ctrl-C until the prompt
is back. tmux sits between the shell and the exec: it keeps the screen and, when a client
falls behind, redraws it rather than passing every byte on, so the bytes delivered are
tmux's redraws, not all that `yes` wrote. The marked flood prints a timestamp now and
then, to see how far behind the screen the client is; the stalled one stops acking."""

import asyncio
import bisect
import re
import time

from bench.report import ms, summary
from bench.terminal.terminals import PROMPT, BrowserTerminal, Terminal
from labplatform.terminal.flow import HIGH_WATERMARK

FLOOD = b"yes\r"
# The time (ns) and a counter, then 2000 lines of y, over and over. One process, so that
# Ctrl-C ends it as it ends `yes` (a shell loop may outlive its interrupted pipeline).
MARKED_FLOOD = (
    b"perl -e 'use Time::HiRes q(time); while (1) { printf qq(\\@T%.0f\\@%d\\@\\n), time * 1e9, ++$n; "
    b"print qq(y\\n) x 2000 }'\r"
)
MARKER = re.compile(rb"@T(\d+)@(\d+)@")
INTERRUPT = b"\x03"


async def interrupt(terminal: Terminal) -> dict:
    """Ctrl-C, timed until the prompt is back."""
    since = terminal.offset
    sent = time.perf_counter()
    await terminal.send(INTERRUPT)
    back = await terminal.wait_for_text(PROMPT, since=since, timeout=60)
    drained = terminal.offset - since
    await terminal.quiet()
    return {"prompt_back_ms": ms(back - sent), "bytes_after_ctrl_c": drained}


def _throughput(terminal: Terminal, seconds: float) -> dict:
    frames = len(terminal.ends)
    return {
        "seconds": round(seconds, 2),
        "bytes": terminal.offset,
        "bytes_per_s": round(terminal.offset / seconds),
        "frames": frames,
        "mean_frame_bytes": round(terminal.offset / frames) if frames else 0,
    }


async def flood(terminal: Terminal, *, seconds: float) -> dict:
    await terminal.quiet()
    terminal.forget()
    await terminal.send(FLOOD)
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    result = _throughput(terminal, time.perf_counter() - started)
    result.update(await interrupt(terminal))
    terminal.forget()
    return result


async def marked_flood(terminal: Terminal, *, seconds: float) -> dict:
    """How current the screen stays: for each timestamp that reached the client, how long
    after it was printed; and how many of those printed reached it at all."""
    await terminal.quiet()
    terminal.forget()
    wall_minus_perf = time.time() - time.perf_counter()
    await terminal.send(MARKED_FLOOD)
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    result = _throughput(terminal, time.perf_counter() - started)
    result.update(await interrupt(terminal))
    lags, counters = [], []
    for match in MARKER.finditer(terminal.output):
        frame = bisect.bisect_left(terminal.ends, match.end())
        lags.append(terminal.times[frame] + wall_minus_perf - int(match.group(1)) / 1e9)
        counters.append(int(match.group(2)))
    result["markers_printed_at_least"] = max(counters, default=0)
    result["markers_seen"] = len(set(counters))
    result["screen_lag"] = summary(lags)
    terminal.forget()
    return result


async def stalled(terminal: BrowserTerminal, *, seconds: float) -> dict:
    """Stops acknowledging during `yes`: the bridge must stop reading once HIGH_WATERMARK
    bytes are unacknowledged, so what arrives beyond the last ack stays under that plus
    one frame, and then nothing more arrives."""
    await terminal.quiet()
    terminal.forget()
    terminal.acking = False  # everything received so far was acknowledged frame by frame
    await terminal.send(FLOOD)
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    frames = [b - a for a, b in zip([0, *terminal.ends], terminal.ends, strict=False)]
    beyond = terminal.offset
    result = {
        "seconds": seconds,
        "bytes_beyond_last_ack": beyond,
        "largest_frame_bytes": max(frames, default=0),
        "limit_bytes": HIGH_WATERMARK + max(frames, default=0),
        # When the last byte came: the bridge held the rest back from then on.
        "held_back_after_s": round(terminal.times[-1] - started, 2) if terminal.times else None,
    }
    result["within_limit"] = beyond <= result["limit_bytes"]
    await terminal.acknowledge_all()
    result.update(await interrupt(terminal))
    terminal.forget()
    return result
