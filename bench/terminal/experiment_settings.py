"""labplatform's settings plus a change the benchmark's report recommends, for
`--experiment NAME` (BENCH_EXPERIMENTS in daphne's environment). Figures from such a run
are labelled as experiments, never the platform's own.

no-dispatch-db-close: Channels' AsyncConsumer.dispatch awaits aclose_old_connections()
    before every message, a sync_to_async call on the one thread all consumers of the
    process share; each keystroke and each ack waits for a turn on it. The terminal
    consumer's database work goes through database_sync_to_async, which closes old
    connections itself, so it could dispatch without it. Here it is skipped for every
    consumer of the process.
"""

import os

from channels import consumer

from bench.terminal.config import EXPERIMENTS as KNOWN
from labplatform.settings import *  # noqa: F403

EXPERIMENTS = set(filter(None, os.environ.get("BENCH_EXPERIMENTS", "").split(",")))
if EXPERIMENTS - set(KNOWN):
    raise ValueError(f"unknown experiments {sorted(EXPERIMENTS - set(KNOWN))}; known: {KNOWN}")


async def _nothing() -> None:
    return None


if "no-dispatch-db-close" in EXPERIMENTS:
    consumer.aclose_old_connections = _nothing
