"""Reset my environment: a Celery worker deletes what the student made and ends their
shell, so the next connection gets a fresh shell in a fresh namespace."""

import asyncio

import pytest

from labplatform.cluster.clients import close_async_clients
from labplatform.environments import services as environments
from labplatform.environments.models import StudentEnvironment
from tests.cohorts import wait_for_environments
from tests.terminals import provision_ready, ready_terminal, session_cookie, shell_identity

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.local_cluster]


def test_a_reset_gives_a_fresh_shell_and_an_empty_namespace(make_cohort, celery_worker_process):
    cohort = make_cohort(students=1)
    (student,) = provision_ready(cohort)
    session = session_cookie(student.user)

    async def before() -> str:
        terminal = await ready_terminal("/ws/terminal/", session=session)
        await terminal.type("kubectl create configmap left-behind --from-literal=a=b\r")
        await terminal.wait_for_text("configmap/left-behind created")
        await terminal.type("sleep 600 &\r")
        identity = await shell_identity(terminal, "before")
        await terminal.close()
        return identity

    async def after() -> str:
        terminal = await ready_terminal("/ws/terminal/", session=session)
        identity = await shell_identity(terminal, "after")
        # The first kubectl after the reset already holds a token the API server takes
        # (the student's ServiceAccount is new): not "You must be logged in".
        await terminal.type("jobs; kubectl get configmap left-behind\r")
        await terminal.wait_for(
            lambda c: "NotFound" in c.text or "Unauthorized" in c.text, what="kubectl's answer after the reset"
        )
        assert "Unauthorized" not in terminal.text, terminal.text[-600:]
        assert "NotFound" in terminal.text
        assert "sleep 600" not in terminal.text
        await terminal.close()
        await close_async_clients()
        return identity

    old = asyncio.run(before())
    environment = StudentEnvironment.objects.get(enrollment=student)
    assert environments.environment_reset(environment=environment)
    wait_for_environments(cohort, StudentEnvironment.State.READY, 1, timeout=120)
    assert asyncio.run(after()) != old
