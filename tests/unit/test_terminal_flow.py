import asyncio

import pytest

from labplatform.terminal.flow import OutputWindow, TerminalSize, terminal_size, utf8_split


@pytest.mark.parametrize(
    ("data", "complete", "rest"),
    [
        (b"plain", b"plain", b""),
        ("café".encode(), "café".encode(), b""),
        (b"caf\xc3", b"caf", b"\xc3"),
        ("€".encode()[:2], b"", "€".encode()[:2]),
        (b"x" + "🙂".encode()[:3], b"x", "🙂".encode()[:3]),
        (b"x" + "🙂".encode(), b"x" + "🙂".encode(), b""),
        (b"bad\xff", b"bad\xff", b""),  # not UTF-8: passed on, never held forever
        (b"\x80\x80\x80\x80", b"\x80\x80\x80\x80", b""),
        (b"", b"", b""),
    ],
)
def test_utf8_split_holds_back_only_a_cut_character(data, complete, rest):
    assert utf8_split(data) == (complete, rest)


def test_every_cut_of_a_multibyte_text_reassembles_into_whole_characters():
    text = "Grüße, 世界 🙂 ok".encode()
    for cut in range(len(text) + 1):
        first, carry = utf8_split(text[:cut])
        second, tail = utf8_split(carry + text[cut:])
        assert tail == b""
        first.decode()  # each frame on its own is valid UTF-8
        second.decode()
        assert first + second == text


@pytest.mark.parametrize(
    ("cols", "rows", "size"),
    [
        (80, 24, TerminalSize(80, 24)),
        (100000, 100000, TerminalSize(500, 200)),
        (0, 0, None),
        (9, 24, None),
        (80, 2, None),
        (-5, 24, None),
        ("80", 24, None),
        (True, 24, None),
        (80.5, 24, None),
    ],
)
def test_terminal_size_is_clamped_or_ignored(cols, rows, size):
    assert terminal_size(cols, rows) == size


def test_the_window_closes_above_the_high_watermark_and_opens_below_the_low():
    window = OutputWindow(high=100, low=20)
    window.sent(100)
    assert window.is_open
    window.sent(1)
    assert not window.is_open
    window.acknowledged(50)
    assert not window.is_open  # 51 still out: above low
    window.acknowledged(31)
    assert window.is_open
    window.acknowledged(10**9)  # more than was sent: clamped, not negative
    assert window.unacknowledged == 0


def test_a_reader_waits_for_the_window_to_open():
    async def scenario():
        window = OutputWindow(high=10, low=5)
        window.sent(11)
        waiter = asyncio.create_task(window.wait_open())
        await asyncio.sleep(0)
        assert not waiter.done()
        window.acknowledged(11)
        await asyncio.wait_for(waiter, 1)

    asyncio.run(scenario())
