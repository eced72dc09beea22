"""Every benchmark under bench/ still runs: its --quick mode (tiny sizes) as a subprocess
exits 0 and its report has the rows it should, with each row's ratio to the baseline of
the same run where the benchmark has one. No figure is judged: this keeps the benchmarks
working as the platform's code changes under them, not fast."""

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field

import pytest

from bench.provision.stats import STEPS
from bench.report import REPO

SECONDS = 240  # a quick run takes well under a minute; this is for a hung one


@dataclass(frozen=True)
class Quick:
    cluster: bool
    # Per table, in order: row label -> whether the row must have a ratio to its baseline.
    tables: list[dict[str, bool]]
    # Extra checks of the report's JSON (not of any figure).
    details: list = field(default_factory=list)


def all_ratios(*labels: str) -> dict[str, bool]:
    return dict.fromkeys(labels, True)


def no_ratios(*labels: str) -> dict[str, bool]:
    return dict.fromkeys(labels, False)


def _every_attempt_passed(document: dict) -> None:
    rows = document["tables"][0]["rows"]
    assert {row["label"]: row["states"] for row in rows} == {
        "drain prefork2x2": "passed 3",
        "burst prefork2x2": "passed 3",
        "kubectl x1": "passed 2",
        "kubectl x2": "passed 2",
    }


def _every_student_ready_and_every_hook_passed(document: dict) -> None:
    platform, *baselines = document["phases"]
    assert [platform["ready"], platform["failed"]] == [2, 0]
    assert all(phase["failed"] == 0 for phase in baselines)
    assert platform["trace"]["tasks"] == 2
    assert platform["trace"]["steps_not_seen"] == []
    assert STEPS <= set(platform["trace"]["calls"])


def _the_new_student_is_ready_and_etcd_was_read(document: dict) -> None:
    assert document["provisioning"]["state"] == "ready", document["provisioning"]
    assert document["after"]["quota_mib"] > 0
    assert document["writer_requests"]["statuses"].get("200"), document["writer_requests"]


QUICK = {
    "dashboard": Quick(
        cluster=False,
        tables=[all_ratios("list", "dashboard 5", "csv 5", "cells 5", "per-row data 5")],
    ),
    "web": Quick(
        cluster=False,
        tables=[
            all_ratios(
                *(f"{page}, {n}" for n in ("1 process", "2 processes") for page in ("lesson", "check", "dashboard"))
            )
        ],
    ),
    "node": Quick(
        cluster=True,
        tables=[
            all_ratios(
                "creation to Ready p50 ms", "creation to Ready p95 ms", "working set after 2 s idle, median MiB"
            ),
            no_ratios("by maxPods", "by CPU requests", "by memory requests", "by measured working set"),
        ],
    ),
    "grading": Quick(
        cluster=True,
        tables=[
            all_ratios("drain prefork2x2", "burst prefork2x2", "kubectl x1", "kubectl x2"),
            no_ratios(
                "grade_attempt (all but Celery)",
                "checks_evaluate",
                "API requests (in checks_evaluate)",
                "attempt_push",
                "SQL statements",
            ),
        ],
        details=[_every_attempt_passed],
    ),
    "terminal": Quick(
        cluster=True,
        tables=[
            {
                **all_ratios("keystroke echo p50 ms", "keystroke echo p99 ms", "flood (yes) delivered KB/s"),
                **no_ratios(
                    "Ctrl-C to prompt ms (yes)", "Ctrl-C to prompt ms (timestamps)", "timestamps seen / printed"
                ),
            }
        ],
    ),
    "fill": Quick(
        cluster=True,
        tables=[
            no_ratios("before the fill", "filled", "largest during writes", "after defragmentation"),
            all_ratios("baseline p50 ms", "during writes p50 ms", "baseline p99 ms", "during writes p99 ms"),
            no_ratios("ConfigMap rewrites"),
        ],
        details=[_the_new_student_is_ready_and_etcd_was_read],
    ),
    "provision": Quick(
        cluster=True,
        tables=[all_ratios("platform prefork2", "kubectl", "bare"), all_ratios("platform prefork2", "kubectl", "bare")],
        details=[_every_student_ready_and_every_hook_passed],
    ),
}


def run_quick(name: str, results) -> subprocess.CompletedProcess:
    """`python -m bench.NAME --quick`; stopped with SIGTERM (which cleans up) if it hangs."""
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    command = [sys.executable, "-m", f"bench.{name}", "--quick", "--results", str(results)]
    process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        output, _ = process.communicate(timeout=SECONDS)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
        pytest.fail(f"bench.{name} --quick still running after {SECONDS}s:\n{output.decode(errors='replace')}")
    return subprocess.CompletedProcess(command, process.returncode, output.decode(errors="replace"))


@pytest.mark.parametrize("name", list(QUICK))
def test_a_benchmarks_quick_run_reports_its_rows(name, request, tmp_path):
    quick = QUICK[name]
    if quick.cluster:
        request.getfixturevalue("kube")  # fails plainly when the local cluster is down
    done = run_quick(name, tmp_path)
    assert done.returncode == 0, done.stdout[-5000:]
    [text_file] = tmp_path.glob(f"{name}-*.txt")
    document = json.loads(text_file.with_suffix(".json").read_text())
    assert document["text"] == text_file.read_text()
    lines = text_file.read_text().splitlines()
    assert len(document["tables"]) >= len(quick.tables)
    for expected, table in zip(quick.tables, document["tables"], strict=False):
        rows = {row["label"]: row for row in table["rows"]}
        assert set(expected) <= set(rows), table["title"]
        for label, with_ratio in expected.items():
            assert any(line.startswith(label) for line in lines), label
            if with_ratio:
                assert isinstance(rows[label]["ratio"], float), (table["title"], label, rows[label])
    for check in quick.details:
        check(document)
