"""Pieces of the terminal protocol that need no network: flow-control accounting, UTF-8
safe framing and terminal size clamping."""

import asyncio
from dataclasses import dataclass

# The browser acknowledges output once xterm.js has drawn it. The bridge stops reading the
# exec stream while more than HIGH bytes are unacknowledged and starts again below LOW, so
# a flood is held back by the shell's own terminal (tmux then skips ahead and redraws)
# rather than by memory in this process or in the browser.
HIGH_WATERMARK = 256 * 1024
LOW_WATERMARK = 64 * 1024

MIN_COLS, MAX_COLS = 10, 500
MIN_ROWS, MAX_ROWS = 3, 200


class OutputWindow:
    """Bytes sent to the browser and not yet acknowledged."""

    def __init__(self, *, high: int = HIGH_WATERMARK, low: int = LOW_WATERMARK) -> None:
        self.high = high
        self.low = low
        self.unacknowledged = 0
        self._open = asyncio.Event()
        self._open.set()

    def sent(self, count: int) -> None:
        self.unacknowledged += count
        if self.unacknowledged > self.high:
            self._open.clear()

    def acknowledged(self, count: int) -> None:
        # A browser cannot acknowledge more than it was sent.
        self.unacknowledged = max(0, self.unacknowledged - max(0, count))
        if self.unacknowledged <= self.low:
            self._open.set()

    async def wait_open(self) -> None:
        await self._open.wait()

    @property
    def is_open(self) -> bool:
        return self._open.is_set()


def utf8_split(data: bytes) -> tuple[bytes, bytes]:
    """(complete, rest): `rest` is a multibyte character cut off at the end of `data`, held
    back until its remaining bytes arrive. Invalid bytes are passed on, not held."""
    end = len(data)
    for back in range(1, min(4, end) + 1):
        byte = data[end - back]
        if byte & 0xC0 == 0x80:  # a continuation byte: keep looking for the lead
            continue
        if 0xC0 <= byte < 0xF8:
            needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            if needed > back:
                return data[: end - back], data[end - back :]
        break
    return data, b""


@dataclass(frozen=True)
class TerminalSize:
    cols: int
    rows: int


def terminal_size(cols: object, rows: object) -> TerminalSize | None:
    """A size to pass on, clamped to what a screen can show; None for a size no visible
    terminal has (a hidden or collapsed panel measures 0x0), which is ignored."""
    if isinstance(cols, bool) or isinstance(rows, bool) or not isinstance(cols, int) or not isinstance(rows, int):
        return None
    if cols < MIN_COLS or rows < MIN_ROWS:
        return None
    return TerminalSize(cols=min(cols, MAX_COLS), rows=min(rows, MAX_ROWS))
