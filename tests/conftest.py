import os

import pytest


def pytest_collection_modifyitems(config, items):
    if not os.environ.get("LABPLATFORM_KUBECONFIG"):
        return
    skip = pytest.mark.skip(reason="tests the local KWOK cluster; LABPLATFORM_KUBECONFIG names another cluster")
    for item in items:
        if item.get_closest_marker("local_cluster"):
            item.add_marker(skip)
