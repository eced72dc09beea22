"""The import contracts in pyproject.toml (docs/architecture.md) hold, and they are not
empty words: a copy of the code with one wrong import breaks the contract it crosses."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(tree / "pyproject.toml")],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """The project's Python packages and its contracts, copied."""
    copy = tmp_path_factory.mktemp("contracts")
    for package in ("labplatform", "lessons"):
        shutil.copytree(
            ROOT / package,
            copy / package,
            ignore=shutil.ignore_patterns("static", "templates", "content", "__pycache__"),
        )
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def test_the_code_keeps_every_contract(tree):
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("module", "bad_import", "contract"),
    [
        ("labplatform/cluster/registry.py", "import labplatform.cohorts.models", "Apps import downwards only"),
        ("labplatform/cohorts/roster.py", "import labplatform.environments.services", "Apps import downwards only"),
        ("lessons/views.py", "import labplatform.terminal.access", "Apps import downwards only"),
        ("lessons/grading/reads.py", "import kubernetes.client", "Only the gateway"),
        ("labplatform/teaching/dashboard.py", "import labplatform.classroom.migrations", "Nothing imports"),
    ],
    ids=["gateway-to-cohorts", "cohorts-to-environments", "lessons-to-terminal", "kubernetes", "classroom"],
)
def test_a_wrong_import_breaks_its_contract(tree, module, bad_import, contract):
    path = tree / module
    original = path.read_text()
    path.write_text(original + f"\n{bad_import}  # the wrong import\n")
    try:
        result = lint_imports(tree)
    finally:
        path.write_text(original)
    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout
    assert module.removesuffix(".py").replace("/", ".") in broken, result.stdout
