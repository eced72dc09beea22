"""The platform as its own identity, end to end: a real daphne web process and a real
Celery worker, both acting on the cluster only through the local cluster's
`platform-kubeconfig` (the platform ServiceAccount's token, no client certificate), provision
a student, grade their Check and open their terminal. Cluster-admin is used only by the test
itself, to apply the task's solution as the student would.

Other tests cover the pieces (the e2e suite drives the same processes from a browser;
test_platform_manifests_apply checks the ServiceAccount's rights one by one); this one runs
them together and says which credentials the processes held."""

import asyncio
import re
import subprocess
import sys
import time

import aiohttp
import pytest
import requests
import yaml
from django.conf import settings
from kubernetes import client

from labplatform.environments.models import StudentEnvironment
from labplatform.environments.services import cohort_provision
from tests.kube import cluster_state_dir, deployment_rolled_out, wait_for
from tests.lessons_rows import course_with_task, deployment
from tests.processes import ROOT, free_port, start_web, stop, subprocess_environment
from tests.terminals import plain, session_cookie

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.local_cluster]

PLATFORM = "system:serviceaccount:labplatform-system:labplatform"
# What each process reports about the credentials it acts with.
IDENTITY_PROBE = """
from django.conf import settings
from kubernetes import client
from labplatform.cluster.clients import sync_client
review = client.AuthenticationV1Api(sync_client()).create_self_subject_review({})
print(settings.LABPLATFORM_KUBECONFIG)
print(settings.LABPLATFORM_LOCAL_KWOK)
print(review.status.user_info.username)
"""


def platform_kubeconfig():
    return cluster_state_dir() / "platform-kubeconfig"


def test_the_platform_kubeconfig_holds_only_a_token():
    config = yaml.safe_load(platform_kubeconfig().read_text())
    (user,) = config["users"]
    assert set(user["user"]) == {"token"}, "no client certificate, key, exec plugin or password"
    assert user["user"]["token"]
    (context,) = config["contexts"]
    assert config["current-context"] == context["name"]


def test_the_processes_act_as_the_platforms_service_account():
    environment = subprocess_environment()
    # Unset, so the settings' default applies: the token-only kubeconfig of the local
    # cluster (setting it would also turn off the local cluster's exec rules and users).
    assert "LABPLATFORM_KUBECONFIG" not in environment
    assert "KUBERNETES_SERVICE_HOST" not in environment
    probe = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", IDENTITY_PROBE],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    path, local_kwok, username = probe.stdout.split()[-3:]
    assert (path, local_kwok, username) == (str(platform_kubeconfig()), "True", PLATFORM)


@pytest.fixture
def web(transactional_db):
    server = start_web(port=free_port(), name="identity-web")
    yield f"127.0.0.1:{server.args[server.args.index('-p') + 1]}"
    stop(server)


class Student:
    """A signed-in student's browser, as far as HTTP goes."""

    def __init__(self, host: str, user) -> None:
        self.host = host
        self.http = requests.Session()
        self.csrf = self.http.get(f"http://{host}/login/", timeout=10).cookies[settings.CSRF_COOKIE_NAME]
        self.session = session_cookie(user)
        self.http.headers["Cookie"] = (
            f"{settings.SESSION_COOKIE_NAME}={self.session}; {settings.CSRF_COOKIE_NAME}={self.csrf}"
        )

    def post(self, path: str) -> dict:
        response = self.http.post(
            f"http://{self.host}{path}",
            headers={"Accept": "application/json", "X-CSRFToken": self.csrf},
            timeout=30,
            allow_redirects=False,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def check(self, task) -> dict:
        """Presses Check (waiting out the per-student interval) and waits for the grade."""
        path = f"/learn/{task.lesson.course.slug}/{task.lesson.slug}/tasks/{task.slug}/check"
        deadline = time.monotonic() + settings.LESSONS_CHECK_INTERVAL_SECONDS + 10
        while True:
            response = self.http.post(
                f"http://{self.host}{path}",
                headers={"Accept": "application/json", "X-CSRFToken": self.csrf},
                timeout=30,
            )
            if response.status_code != 429 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert response.status_code == 200, response.text
        attempt = response.json()["attempt"]["id"]

        def graded() -> dict | None:
            payload = self.http.get(f"http://{self.host}/learn/attempts/{attempt}", timeout=10).json()
            return payload if payload["state"] != "pending" else None

        return wait_for(f"attempt {attempt} graded by the worker", graded, timeout=90)


async def terminal_session(host: str, session: str) -> str:
    """Opens the terminal and runs a command in the student's shell."""
    async with aiohttp.ClientSession(headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session}"}) as http:
        async with http.ws_connect(f"ws://{host}/ws/terminal/", origin=f"http://{host}") as terminal:
            text = ""

            async def read_until(pattern: str, timeout: float = 60) -> None:
                nonlocal text
                deadline = asyncio.get_running_loop().time() + timeout
                while not re.search(pattern, text):
                    remaining = deadline - asyncio.get_running_loop().time()
                    assert remaining > 0, f"waiting for {pattern!r}; the screen so far:\n{text[-1500:]}"
                    try:
                        message = await terminal.receive(timeout=remaining)
                    except TimeoutError:
                        continue
                    if message.type == aiohttp.WSMsgType.BINARY:
                        text += plain(message.data)
                        await terminal.send_json({"type": "ack", "bytes": len(message.data)})
                    elif message.type != aiohttp.WSMsgType.TEXT:
                        raise AssertionError(f"the terminal closed: {message!r}\n{text[-1500:]}")

            await terminal.send_json({"type": "resize", "cols": 100, "rows": 30})
            # As test_terminal_processes types: at once, the line that matters second.
            await terminal.send_bytes(b"true\recho identity-$((6*7))-end\r")
            await read_until(r"identity-42-end")
            return text


@pytest.mark.usefixtures("celery_worker_process")
def test_a_student_is_provisioned_graded_and_reaches_a_shell_through_the_platforms_own_identity(make_cohort, kube, web):
    cohort = make_cohort(students=1)
    (enrollment,) = cohort.enrollments.select_related("user")
    task = course_with_task()
    cohort.course = task.lesson.course.slug
    cohort.save(update_fields=["course"])

    assert cohort_provision(cohort=cohort) == 1

    def provisioned() -> StudentEnvironment | None:
        environment = StudentEnvironment.objects.get(enrollment=enrollment)
        assert environment.state != StudentEnvironment.State.FAILED, environment.last_error
        return environment if environment.state == StudentEnvironment.State.READY else None

    environment = wait_for("the worker to provision the student", provisioned, timeout=120)

    student = Student(web, enrollment.user)
    student.post(f"/learn/{task.lesson.course.slug}/{task.lesson.slug}/tasks/{task.slug}/open")
    before = student.check(task)
    assert before["state"] == "failed", before
    # The student's solution; the test applies it as cluster-admin.
    apps = client.AppsV1Api(kube)
    apps.create_namespaced_deployment(environment.namespace, deployment(replicas=3))
    wait_for("the solution rolled out", lambda: deployment_rolled_out(apps, environment.namespace, "web", 3))
    after = student.check(task)
    assert after["state"] == "passed", after
    assert after["progress"]["state"] == "passed"

    screen = asyncio.run(terminal_session(web, student.session))
    assert "identity-42-end" in screen, "the student's shell ran a command, reached through the web process"
