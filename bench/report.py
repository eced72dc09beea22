"""What a benchmark run reports: tables of figures, each row's main figure also as a ratio
to a baseline measured in the same run, and lines of notes. Printed, and written to
bench/results/<name>-<time>.txt, with the tables' values and every detail the benchmark
adds in <name>-<time>.json beside it."""

import hashlib
import json
import os
import platform
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def summary(seconds: list[float]) -> dict:
    """count, total (s) and mean/p50/p90/p95/p99/max in ms (nearest rank) of durations in seconds."""
    if not seconds:
        return {"count": 0}
    ordered = sorted(seconds)

    def rank(q: float) -> float:
        return ms(ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))])

    return {
        "count": len(ordered),
        "total_s": round(sum(ordered), 3),
        "mean_ms": ms(statistics.fmean(ordered)),
        "p50_ms": rank(0.50),
        "p90_ms": rank(0.90),
        "p95_ms": rank(0.95),
        "p99_ms": rank(0.99),
        "max_ms": ms(ordered[-1]),
    }


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def ratio(value: float | None, baseline: float | None) -> float | None:
    """value / baseline, or None unless both are figures (and the baseline not 0)."""
    return round(value / baseline, 2) if _number(value) and _number(baseline) and baseline else None


def cell(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def times(value: float | None) -> str:
    """A ratio as the tables show it: 2.31x."""
    return "-" if value is None else f"{value:.2f}x"


@dataclass(frozen=True)
class Column:
    key: str
    heading: str
    digits: int = 1


class Table:
    """Rows of figures under headings. With `ratio_of` (a column's key), a last column gives
    each row's figure over its baseline's, measured in the same run: the same column of the
    row named `baseline` (a row may name its own), or, with `against_column`, another
    column of the same row. `ratio_title` heads that column (default: x <baseline>)."""

    def __init__(
        self,
        title: str,
        columns: list[Column],
        *,
        ratio_of: str | None = None,
        baseline: str | None = None,
        against_column: str | None = None,
        ratio_title: str | None = None,
    ) -> None:
        self.title, self.columns = title, columns
        self.ratio_of, self.baseline, self.against_column = ratio_of, baseline, against_column
        self.ratio_title = ratio_title
        self.rows: list[tuple[str, dict, str | None]] = []

    def add(self, label: str, *, baseline: str | None = None, **values) -> None:
        self.rows.append((label, values, baseline or self.baseline))

    def _ratio(self, values: dict, baseline: str | None) -> float | None:
        if self.against_column:
            return ratio(values.get(self.ratio_of), values.get(self.against_column))
        base = next((v for label, v, _ in self.rows if label == baseline), None)
        return ratio(values.get(self.ratio_of), (base or {}).get(self.ratio_of))

    def _ratio_heading(self) -> str:
        against = self.against_column and self._heading(self.against_column)
        return self.ratio_title or f"x {against or self.baseline or 'baseline'}"

    def _heading(self, key: str) -> str:
        return next(c.heading for c in self.columns if c.key == key)

    def as_dict(self) -> dict:
        rows = []
        for label, values, baseline in self.rows:
            row = {"label": label, **values}
            if self.ratio_of:
                row["ratio"] = self._ratio(values, baseline)
                row["ratio_against"] = self.against_column or baseline
            rows.append(row)
        return {"title": self.title, "ratio_of": self.ratio_of, "rows": rows}

    def lines(self) -> list[str]:
        headings = ["", *(c.heading for c in self.columns)]
        cells = []
        for label, values, _ in self.rows:
            cells.append([label, *(cell(values.get(c.key), c.digits) for c in self.columns)])
        if self.ratio_of:
            headings.append(self._ratio_heading())
            for row, (_, values, baseline) in zip(cells, self.rows, strict=True):
                row.append(times(self._ratio(values, baseline)))
        widths = [max(len(str(row[i])) for row in [headings, *cells]) for i in range(len(headings))]

        def line(row: list[str]) -> str:
            first, *rest = row
            return "  ".join([f"{first:<{widths[0]}}", *(f"{c:>{w}}" for c, w in zip(rest, widths[1:], strict=True))])

        out = [self.title, line(headings), "-" * (sum(widths) + 2 * (len(widths) - 1)), *map(line, cells)]
        if self.ratio_of:
            against = self.against_column and f"the same row's {self._heading(self.against_column)}"
            out.append(
                f"({self._ratio_heading()}: {self._heading(self.ratio_of)} over {against or 'its baseline row'}, "
                "measured in this run)"
            )
        return out


def code_identity() -> dict:
    """Which labplatform code is measured: others edit it while benchmarks run."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "labplatform").rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "labplatform"], cwd=REPO, capture_output=True, text=True, check=False
    )
    return {
        "git_head": head.stdout.strip(),
        "labplatform_uncommitted_changes": dirty.stdout.splitlines()[:20],
        "labplatform_py_sha256": digest.hexdigest()[:16],
    }


class Report:
    """One run's report: `add` tables and lines in the order they are to be read, put
    anything else worth keeping in `details`; `write` prints the text and writes both files."""

    def __init__(self, name: str, *, folder: Path, command: str, arguments: dict) -> None:
        self.name, self.folder = name, folder
        self.stamp = time.strftime("%Y%m%d-%H%M%S")
        self.blocks: list[Table | str] = []
        self.details: dict = {}
        self.meta = {
            "command": command,
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "arguments": arguments,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
            "code": code_identity(),
        }

    def add(self, *blocks: Table | str) -> None:
        self.blocks.extend(blocks)

    def logs(self) -> Path:
        """A folder of this run's own (worker logs, raw traces), made on first use."""
        folder = self.folder / f"{self.name}-{self.stamp}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def text(self) -> str:
        lines = [f"{self.name} benchmark {self.meta['started']}: {self.meta['command']}"]
        for block in self.blocks:
            lines += ["", *block.lines()] if isinstance(block, Table) else [block]
        return "\n".join(lines) + "\n"

    def write(self) -> Path:
        """Prints the report and writes <name>-<time>.txt and .json; returns the .txt's path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        text = self.text()
        tables = [block.as_dict() for block in self.blocks if isinstance(block, Table)]
        document = {"meta": self.meta, "tables": tables, "text": text, **self.details}
        path = self.folder / f"{self.name}-{self.stamp}.txt"
        path.with_suffix(".json").write_text(json.dumps(document, indent=2, default=str) + "\n")
        path.write_text(text)
        print("\n" + text, end="")
        print(f"\nresults: {path} and .json", flush=True)
        return path
