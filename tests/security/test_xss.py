"""Threat: a student plants markup in the cluster, or in an answer, that runs as script
in a page (cross-site scripting): their own lesson page, and, worse, their instructor's
dashboard and drill-down, signed in with the power to reset, regrade and watch terminals.

Everything a check reads is the student's to write: ConfigMap values, annotation values,
image names, typed answers (where the text of a container's log ends up); object names
and label values cannot hold markup (the API server refuses them, tested first). The
student writes them with their own token, presses Check in real Chromium, a real Celery
worker grades against the real API server and pushes the result to the page (lesson.js
draws it), then the page is reloaded (the template draws it); the instructor opens the
dashboard and the drill-down (messages and evidence). On every page the injected text
shows as text, no injected element exists and `window.__xss` stays undefined."""

import json
import textwrap
from pathlib import Path

import pytest
from playwright.sync_api import expect

from labplatform.environments.steps import environment_spec
from lessons.loading import course_load
from tests.e2e.conftest import browser, orm_calls_beside_playwright, screenshots, web  # noqa: F401 - fixtures
from tests.e2e.lesson_pages import PASSWORD, provision_beside_playwright
from tests.security.tokens import answer_of, api_client, kubeconfig_file

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.local_cluster]

COURSE = "sec-xss"
LESSON = "1.1-markup"
SCRIPT = '<script>window.__xss="script"</script>'
IMG = '"><img src=x onerror="window.__xss=\'img\'">'
LINK = "javascript:window.__xss='link'"
IMAGE = "x\"><img/src=x/onerror=window.__xss='image'>"  # an image name has no spaces
ANNOTATION = "'><svg/onload=window.__xss='annotation'><a href=\"javascript:window.__xss='a'\">x</a>"
ANSWER = "<img src=x onerror=\"window.__xss='answer'\">"
# As the messages quote what they read: JSON for a field's value, Python's repr for an answer.
SHOWN = [json.dumps(value) for value in (SCRIPT, IMG, LINK, IMAGE, ANNOTATION)] + [repr(ANSWER)]

COURSE_FILES = {
    "course.yaml": """
        slug: sec-xss
        title: "Security: markup"
        description: One lesson whose checks read what the student wrote.
        lessons:
          - 1.1-markup
    """,
    "1.1-markup/lesson.md": """
        # 1.1 Markup

        Whatever you write, the pages show as text.
    """,
    "1.1-markup/tasks.yaml": """
        tasks:
          - id: settings
            title: Safe settings
            instructions: |
              Make a ConfigMap `settings` and a Pod `web`.
            checks:
              - title: mode is safe
                target: {kind: ConfigMap, name: settings}
                assert:
                  - {path: data.mode, op: "==", value: safe}
              - title: color is blue
                target: {kind: ConfigMap, name: settings}
                assert:
                  - {path: data.color, op: "==", value: blue}
              - title: link is the site
                target: {kind: ConfigMap, name: settings}
                assert:
                  - {path: data.link, op: "==", value: "https://example.com"}
              - title: web runs nginx
                target: {kind: Pod, name: web}
                assert:
                  - {path: "spec.containers[0].image", op: "==", value: "nginx:1.27"}
              - title: web is noted ok
                target: {kind: Pod, name: web}
                assert:
                  - {path: metadata.annotations.note, op: "==", value: ok}
              - kind: answer
                title: the log line
                prompt: What does the pod's log say?
                expected: hello
            solution:
              commands: |
                kubectl create configmap settings --from-literal=mode=safe
    """,
}

# Elements only a payload would make; json_script's <script type="application/json">
# holds payload text legitimately (escaped), so scripts count only if they would run.
INJECTED = """() => Array.from(document.querySelectorAll(
    'img[src="x"], svg[onload], [onerror], [onload]:not(body):not(iframe), a[href^="javascript:" i], script'
)).filter(e => e.tagName !== 'SCRIPT'
    || (!e.src && e.type !== 'application/json' && e.textContent.includes('__xss'))
).map(e => e.outerHTML)"""


@pytest.fixture
def course(tmp_path: Path):
    for name, text in COURSE_FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    course_load(path=tmp_path)


@pytest.fixture
def people(make_cohort, course):
    """(student, instructor) of one cohort taking the course; the student provisioned."""
    cohort = make_cohort(students=1, instructors=1)
    cohort.course = COURSE
    cohort.save()
    (student,) = provision_beside_playwright(cohort)
    instructor = cohort.enrollments.get(role="instructor")
    for enrollment in (student, instructor):
        enrollment.user.set_password(PASSWORD)
        enrollment.user.save()
    return student, instructor


def plant(student, directory: Path) -> None:
    """The student writes the payloads into their namespace with their own token."""
    spec = environment_spec(student.environment)
    api = api_client(kubeconfig_file(spec, directory))
    ns = spec.namespace
    config = {"metadata": {"name": "settings"}, "data": {"mode": SCRIPT, "color": IMG, "link": LINK}}
    pod = {
        "metadata": {"name": "web", "annotations": {"note": ANNOTATION}},
        "spec": {"containers": [{"name": "c", "image": IMAGE}]},
    }
    for path, body in [(f"/api/v1/namespaces/{ns}/configmaps", config), (f"/api/v1/namespaces/{ns}/pods", pod)]:
        status, said = answer_of(api, "POST", path, body=body)
        assert status == 201, said


def signed_in(browser, web: str, user):  # noqa: F811 - the fixture, passed in
    context = browser.new_context(viewport={"width": 1366, "height": 800})
    page = context.new_page()
    page.set_default_timeout(20_000)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(web + "/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(web + "/")
    page.dialogs = dialogs
    return page


def assert_inert(page, where: str, *, shown: list[str], any_of: bool = False) -> None:
    """No payload ran or made an element, and each of `shown` (or, any_of, one of them) is
    on the page as text."""
    page.wait_for_timeout(500)  # an injected image's error handler would have run by now
    text = page.locator("body").inner_text()
    missing = [payload for payload in shown if payload not in text]
    assert len(missing) < len(shown) if any_of else not missing, f"{where}: {missing} not shown as text in:\n{text}"
    assert page.evaluate("typeof window.__xss") == "undefined", (
        f"{where}: a payload ran ({page.evaluate('window.__xss')})"
    )
    assert page.evaluate(INJECTED) == [], f"{where}: injected elements {page.evaluate(INJECTED)}"
    assert page.dialogs == [], f"{where}: dialogs {page.dialogs}"


def test_names_and_label_values_cannot_hold_markup(people, tmp_path):
    student, _ = people
    spec = environment_spec(student.environment)
    api = api_client(kubeconfig_file(spec, tmp_path))
    for metadata in [{"name": "<script>x</script>"}, {"name": "ok", "labels": {"app": IMG}}, {"name": "a:b"}]:
        status, said = answer_of(
            api, "POST", f"/api/v1/namespaces/{spec.namespace}/configmaps", body={"metadata": metadata}
        )
        assert status == 422, said


def test_injected_markup_runs_on_no_page(browser, web, people, celery_worker_process, tmp_path, screenshots):  # noqa: F811
    student, instructor = people
    plant(student, tmp_path)

    # The student's lesson page: the result pushed and drawn by lesson.js.
    page = signed_in(browser, web, student.user)
    page.goto(f"{web}/learn/{COURSE}/{LESSON}/")
    card = page.locator("#task-settings")
    card.get_by_role("button", name="Start task").click()
    card.get_by_label("What does the pod's log say?").fill(ANSWER)
    card.get_by_role("button", name="Check").click()
    results = card.locator("[data-results]")
    expect(results.locator(".check-failed")).to_have_count(6, timeout=60_000)
    page.screenshot(path=screenshots / "xss-lesson-live.png")
    assert_inert(page, "the lesson page (pushed)", shown=SHOWN)
    # Reloaded: the same results drawn by the template.
    page.reload()
    expect(page.locator("#task-settings [data-results] .check-failed")).to_have_count(6)
    assert_inert(page, "the lesson page (reloaded)", shown=SHOWN)
    page.context.close()

    # The instructor's dashboard (the most common failing message) and drill-down
    # (every check's message, the typed answer, the evidence).
    page = signed_in(browser, web, instructor.user)
    slug = student.cohort.slug
    page.goto(f"{web}/teach/{slug}/")
    expect(page.locator("#heatmap")).to_be_visible()
    # (Its most common failing message is one of the six.)
    assert_inert(page, "the dashboard", shown=SHOWN, any_of=True)
    page.goto(f"{web}/teach/{slug}/students/{student.student_id}/")
    page.locator("details summary", has_text="evidence").first.wait_for()
    for summary in page.locator("details summary", has_text="evidence").all():
        summary.click()
    page.screenshot(path=screenshots / "xss-drilldown.png", full_page=True)
    assert_inert(page, "the drill-down", shown=SHOWN)
    page.context.close()
