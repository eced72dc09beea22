"""/static/vendor/ serves the browser libraries the pages load, found in the templates and
scripts themselves, and nothing else of node_modules (ESLint and the rest of the
development packages are not public)."""

import re

import pytest

from tests.processes import ROOT

VENDOR_URL = re.compile(r"vendor/[@\w./-]+\.(?:js|css)")


def vendor_references() -> set[str]:
    found = set()
    for folder in ("labplatform", "lessons"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".html", ".js", ".py"} and "migrations" not in path.parts:
                found.update(VENDOR_URL.findall(path.read_text(encoding="utf-8")))
    return found


def test_the_pages_load_vendor_files():
    assert {"vendor/@xterm/xterm/lib/xterm.js", "vendor/mermaid/dist/mermaid.min.js"} <= vendor_references()


@pytest.mark.django_db
@pytest.mark.parametrize("reference", sorted(vendor_references()))
def test_every_vendor_file_a_page_loads_is_served(client, reference):
    response = client.get(f"/static/{reference}")
    assert response.status_code == 200, reference


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["eslint/package.json", "@xterm/xterm/package.json", "d3/package.json"])
def test_the_rest_of_node_modules_is_not_served(client, path):
    assert (ROOT / "node_modules" / path).is_file()
    assert client.get(f"/static/vendor/{path}").status_code == 404
