"""The command line every benchmark shares: its own options plus --quick (tiny sizes, what
tests/integration/test_bench_quick.py runs) and --results; one run of a benchmark at a
time on the machine; SIGTERM cleans up as Ctrl-C does; the report (bench/report.py) is
written at the end, or with what was measured when a run stops early."""

import argparse
import fcntl
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.report import RESULTS, Report


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def _interrupt_on_signals() -> None:
    """SIGTERM cleans up as Ctrl-C does; so does SIGINT when a shell started the run in the
    background with it ignored."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


@dataclass(frozen=True)
class Benchmark:
    """`name` is the package under bench/; `doc` its docstring (first paragraph: the
    description, the rest: the help's epilog); `options(parser)` adds its own options;
    `quick` the option values --quick sets (options given explicitly win);
    `measure(args, report)` runs it and adds its figures to the report."""

    name: str
    doc: str
    measure: Callable[[argparse.Namespace, Report], None]
    options: Callable[[argparse.ArgumentParser], None] = lambda parser: None
    quick: dict = field(default_factory=dict)

    def _arguments(self, argv: list[str]) -> argparse.Namespace:
        description, _, epilog = self.doc.strip().partition("\n\n")
        parser = argparse.ArgumentParser(
            prog=f"python -m bench.{self.name}",
            description=description,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        quick = ", ".join(f"--{key.replace('_', '-')} {value}" for key, value in self.quick.items())
        parser.add_argument("--quick", action="store_true", help=f"a smoke run at tiny sizes: {quick or 'as is'}")
        parser.add_argument(
            "--results", type=Path, default=RESULTS, metavar="DIR", help="where the report goes (bench/results)"
        )
        self.options(parser)
        args = parser.parse_args(argv)
        if args.quick:
            parser.set_defaults(**self.quick)
            args = parser.parse_args(argv)
        return args

    def main(self, argv: list[str] | None = None) -> int:
        argv = sys.argv[1:] if argv is None else argv
        args = self._arguments(argv)
        # One run at a time on the machine: runs share the benchmark's database, and the
        # cluster benchmarks remove what an earlier run left, by name.
        lock = Path(f"/tmp/labplatform-bench-{self.name}.lock").open("w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"another {self.name} benchmark is running; wait for it to finish", file=sys.stderr)
            return 3
        _interrupt_on_signals()
        report = Report(
            self.name,
            folder=args.results,
            command=" ".join([f"python -m bench.{self.name}", *argv]),
            arguments={k: v for k, v in vars(args).items() if k != "results"},
        )
        try:
            self.measure(args, report)
        except KeyboardInterrupt:
            report.add("", "INTERRUPTED: the figures are of what ran before")
            return 130
        finally:
            if report.blocks:
                report.write()
        return 0
