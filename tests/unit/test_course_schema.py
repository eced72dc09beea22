"""Reading a course folder (lessons/content/FORMAT.md): every mistake is reported as
`file:line: what is wrong`, all of them at once, sorted by file and line."""

from pathlib import Path
from textwrap import dedent

import pytest

from lessons.loading import CourseInvalid, course_read

COURSE = """\
slug: k8s
title: Kubernetes
description: Learn *Kubernetes*.
lessons:
  - 15.7-deployments
"""
LESSON = "# 15.7 Deployments\n\nA Deployment keeps pods running.\n"
TASKS = """\
tasks:
  - id: scale
    title: Scale web
    instructions: Scale `web` to 3.
    checks:
      - target: {apiVersion: apps/v1, kind: Deployment, name: web}
        assert:
          - {path: spec.replicas, op: "==", value: 3}
    solution:
      commands: kubectl scale deployment web --replicas=3
"""
QUIZ = """\
questions:
  - id: heal
    prompt: What recreates a deleted pod?
    kind: single
    choices:
      - {id: a, text: The kubelet}
      - {id: b, text: The *ReplicaSet* controller, correct: true}
    explanation: It compares.
"""
T = "course/15.7-deployments/tasks.yaml"
Q = "course/15.7-deployments/quiz.yaml"
C = "course/course.yaml"
L = "course/15.7-deployments/lesson.md"


@pytest.fixture(autouse=True)
def in_tmp_path(tmp_path, monkeypatch):
    # Messages name files relative to the current directory.
    monkeypatch.chdir(tmp_path)


def write(files: dict[str, str]) -> Path:
    root = Path("course")
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(dedent(text))
    return root


def errors(**overrides: str | None) -> list[str]:
    """The errors in the valid course above with some files replaced (None: left out)."""
    files = {
        "course.yaml": COURSE,
        "15.7-deployments/lesson.md": LESSON,
        "15.7-deployments/tasks.yaml": TASKS,
        "15.7-deployments/quiz.yaml": QUIZ,
    }
    names = {"course": "course.yaml", "lesson": "15.7-deployments/lesson.md"}
    names |= {"tasks": "15.7-deployments/tasks.yaml", "quiz": "15.7-deployments/quiz.yaml"}
    for key, text in overrides.items():
        files[names[key]] = text
    root = write({name: text for name, text in files.items() if text is not None})
    with pytest.raises(CourseInvalid) as raised:
        course_read(path=root)
    return raised.value.errors


def task_errors(checks: str = "", *, setup: str = "", solution: str = "solution: {commands: echo hi}\n") -> list[str]:
    """Errors in a tasks.yaml of one task whose setup, checks and solution are given
    (YAML at the task's indentation: setup from line 5, then checks, then solution)."""
    text = "tasks:\n  - id: t\n    title: T\n    instructions: I\n"
    for part in (setup, checks, solution):
        text += "".join(f"    {line}\n" for line in dedent(part).splitlines())
    return errors(tasks=text)


def test_a_valid_course_is_read_and_rendered():
    course = course_read(path=write({"course.yaml": COURSE, "15.7-deployments/lesson.md": LESSON}))
    assert (course.slug, course.title, course.description_html) == (
        "k8s",
        "Kubernetes",
        "<p>Learn <em>Kubernetes</em>.</p>\n",
    )
    [lesson] = course.lessons
    assert (lesson.slug, lesson.number, lesson.title) == ("15.7-deployments", "15.7", "Deployments")
    # The page shows the number and title itself, so the body starts after the heading.
    assert lesson.body_html == "<p>A Deployment keeps pods running.</p>\n"
    assert (lesson.tasks, lesson.questions) == ([], [])


def test_tasks_and_questions_are_read_as_plain_json_and_html():
    write({"course.yaml": COURSE, "15.7-deployments/lesson.md": LESSON})
    write({"15.7-deployments/tasks.yaml": TASKS, "15.7-deployments/quiz.yaml": QUIZ})
    [lesson] = course_read(path=Path("course")).lessons
    [task] = lesson.tasks
    assert (task.slug, task.title, task.instructions_html) == (
        "scale",
        "Scale web",
        "<p>Scale <code>web</code> to 3.</p>\n",
    )
    assert task.spec == {
        "setup": {},
        "checks": [
            {
                "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "assert": [{"path": "spec.replicas", "op": "==", "value": 3}],
            }
        ],
        "solution": {"commands": "kubectl scale deployment web --replicas=3"},
    }
    assert type(task.spec["checks"][0]) is dict
    [question] = lesson.questions
    assert question.choices == [
        {"id": "a", "html": "The kubelet"},
        {"id": "b", "html": "The <em>ReplicaSet</em> controller"},
    ]
    assert (question.kind, question.correct, question.prompt_html) == (
        "single",
        ["b"],
        "<p>What recreates a deleted pod?</p>\n",
    )
    assert question.explanation_html == "<p>It compares.</p>\n"


def test_markdown_has_paste_buttons_for_run_blocks_mermaid_diagrams_and_no_raw_html():
    lesson = """\
    # 15.7 Deployments

    ```bash run
    kubectl get pods -l "app=web" && echo <done>
    ```

    ```mermaid
    graph LR; A-->B
    ```

    ```yaml
    replicas: 3
    ```

    <script>alert(1)</script>

    | a | b |
    |---|---|
    | 1 | 2 |
    """
    [read] = course_read(path=write({"course.yaml": COURSE, "15.7-deployments/lesson.md": lesson})).lessons
    command = "kubectl get pods -l &quot;app=web&quot; &amp;&amp; echo &lt;done&gt;"
    assert read.body_html.split("\n")[:6] == [
        f'<div class="command"><pre><code class="language-bash">{command}</code></pre><button type="button" '
        f'class="command-paste" data-command="{command}">Paste into terminal</button></div>',
        '<pre class="mermaid">graph LR; A--&gt;B',
        "</pre>",
        '<pre><code class="language-yaml">replicas: 3',
        "</code></pre>",
        "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>",
    ]
    assert "<td>1</td>" in read.body_html


def test_a_heading_without_a_number_is_the_title():
    [lesson] = course_read(path=write({"course.yaml": COURSE, "15.7-deployments/lesson.md": "# Deployments\n"})).lessons
    assert (lesson.number, lesson.title) == ("15.7", "Deployments")


# course.yaml


def test_a_missing_course_yaml_is_named():
    Path("course").mkdir()
    with pytest.raises(CourseInvalid) as raised:
        course_read(path=Path("course"))
    assert raised.value.errors == [
        f"{C}: not found (a course folder holds course.yaml and its lessons' folders)",
    ]


def test_course_yaml_keys_types_and_slug():
    assert errors(course="slug: K8s!\ntitle: [a]\nlessons: [15.7-deployments]\nlesson: x\n") == [
        f"{C}:1: course slug 'K8s!' may use only a-z, 0-9 and '-'",
        f"{C}:2: 'title' in course must be a string, found a list",
        f"{C}:4: unknown key 'lesson' in course (expected one of: description, lessons, slug, title)",
    ]


def test_course_yaml_missing_keys_are_reported_at_its_first_line():
    assert errors(course="slug: k8s\n") == [
        f"{C}:1: course is missing 'title'",
        f"{C}:1: course is missing 'lessons'",
    ]


def test_lesson_folders_missing_misnamed_twice_or_without_lesson_md():
    Path("course/15.8-services").mkdir(parents=True)
    course = COURSE + "  - 15.7-deployments\n  - 15.9-gone\n  - Pods\n  - 15.8-services\n  - 3\n"
    assert errors(course=course) == [
        f"{C}:6: lesson '15.7-deployments' is listed twice (first at line 5)",
        f"{C}:7: lesson folder '15.9-gone' not found",
        f"{C}:8: lesson folder 'Pods' must be named NUMBER-name, like 15.7-deployments",
        f"{C}:9: lesson '15.8-services' has no lesson.md",
        f"{C}:10: a lesson must be a folder name",
    ]


def test_invalid_yaml_is_reported_where_the_parser_stopped():
    assert errors(course="slug: k8s\ntitle: [unclosed\nlessons: []\n") == [
        f"{C}:3: invalid YAML: expected ',' or ']', but got ':'",
    ]


def test_a_duplicate_key_is_an_error_not_a_silent_override():
    assert errors(course=COURSE + "title: Again\n") == [f"{C}:6: duplicate key 'title' (first at line 2)"]


# lesson.md


def test_lesson_md_must_start_with_a_heading():
    assert errors(lesson="Deployments keep pods running.\n\n# 15.7 Deployments\n") == [
        f"{L}:1: lesson.md must start with a '# 15.7 Title' heading",
    ]


def test_the_heading_number_must_be_the_folders():
    assert errors(lesson="\n# 15.8 Deployments\n") == [f"{L}:2: heading number 15.8 does not match the folder's 15.7"]


# tasks.yaml: tasks


def test_a_task_needs_an_id_title_instructions_checks_and_a_solution():
    assert errors(tasks="tasks:\n  - hints: [a]\n") == [
        f"{T}:2: task is missing 'id'",
        f"{T}:2: task is missing 'title'",
        f"{T}:2: task is missing 'instructions'",
        f"{T}:2: task is missing 'checks'",
        f"{T}:2: task is missing 'solution'",
    ]


def test_task_ids_are_slugs_and_unique():
    tasks = TASKS + TASKS.removeprefix("tasks:\n") + TASKS.removeprefix("tasks:\n").replace("id: scale", "id: Scale_2")
    assert errors(tasks=tasks) == [
        f"{T}:11: duplicate task id 'scale' (first at line 2)",
        f"{T}:20: task id 'Scale_2' may use only a-z, 0-9 and '-'",
    ]


def test_a_task_without_checks_or_with_an_empty_solution():
    assert task_errors("checks: []", solution="solution: {}") == [
        f"{T}:5: task has no checks (at least one is needed)",
        f"{T}:6: solution needs commands and/or manifests",
    ]


def test_unknown_keys_and_wrong_types_in_a_task():
    text = TASKS.replace("    title: Scale web\n", "    title: 3\n    hint: [a]\n    hints: [ok, {a: 1}]\n")
    assert errors(tasks=text) == [
        f"{T}:3: 'title' in task must be a string, found an integer",
        f"{T}:4: unknown key 'hint' in task (expected one of: checks, hints, id, instructions, setup, solution, title)",
        f"{T}:5: a hint must be a string (Markdown)",
    ]


def test_checks_that_are_not_a_list_are_reported_once():
    assert task_errors("checks: {target: {kind: Pod}}") == [f"{T}:5: 'checks' in task must be a list, found a mapping"]


def test_an_empty_tasks_yaml_is_an_error():
    assert errors(tasks="") == [f"{T}:1: tasks.yaml must be a mapping, found nothing"]


# tasks.yaml: checks


def test_an_unknown_key_in_a_check_names_the_expected_ones():
    checks = """\
    checks:
      - target: {apiVersion: apps/v1, kind: Deployment, name: web}
        replica: 3
    """
    assert task_errors(checks) == [
        f"{T}:7: unknown key 'replica' in check (expected one of: assert, count, kind, match, target, title, wait)",
    ]


def test_a_check_of_an_unknown_kind():
    assert task_errors("checks:\n  - kind: pod_deleted\n    deployment: web\n") == [
        f"{T}:6: unknown check kind 'pod_deleted' "
        "(expected one of: answer, objects, pod_replaced, rolled_back, rollout_to_image, service_port)",
    ]


def test_targets_name_a_kind_the_platform_reads_with_its_api_version():
    checks = """\
    checks:
      - target: {kind: Deployment, name: web}
      - target: {apiVersion: v1, kind: Deployment}
      - target: {kind: Deploymnet}
      - target: {kind: Pod, name: web, selector: {app: web, tier: 1}}
      - target: {name: web}
      - target: web
    """
    assert task_errors(checks) == [
        f"{T}:6: target kind 'Deployment' needs apiVersion: apps/v1",
        f"{T}:7: target kind 'Deployment' has apiVersion apps/v1, not 'v1'",
        f"{T}:8: unknown target kind 'Deploymnet' (expected one of: ConfigMap, CronJob, DaemonSet, Deployment, "
        "EndpointSlice, Endpoints, Event, HorizontalPodAutoscaler, Ingress, Job, LimitRange, Logs, NetworkPolicy, "
        "Node, PersistentVolumeClaim, Pod, ReplicaSet, ResourceQuota, Secret, Service, ServiceAccount, StatefulSet)",
        f"{T}:9: target has both name and selector (use one)",
        f"{T}:9: label 'tier' in selector must be a string, found an integer (quote it)",
        f"{T}:10: target is missing 'kind'",
        f"{T}:11: 'target' in check must be a mapping, found a string",
    ]


def test_assertions_need_a_valid_jmespath_a_known_op_and_a_value_when_the_op_takes_one():
    checks = """\
    checks:
      - target: {kind: Pod, name: web}
        assert:
          - {path: "spec.containers[", op: exists}
          - {path: spec.nodeName, op: "=~", value: x}
          - {path: spec.nodeName, op: "=="}
          - {path: spec.nodeName, op: absent, value: x}
          - {path: metadata.labels.app, op: in, value: web}
          - {path: metadata.name, op: matches, value: "web-("}
          - {path: metadata.name, op: "==", value: web, message: "{kind} {name} is {actul}, not {{ x }}"}
          - {op: exists}
    """
    assert task_errors(checks) == [
        f"{T}:8: invalid JMESPath 'spec.containers[' in path: Invalid jmespath expression: Incomplete expression",
        f"{T}:9: unknown op '=~' in assertion "
        "(expected one of: ==, !=, <, <=, >, >=, in, contains, matches, exists, absent)",
        f"{T}:10: op '==' needs a value",
        f"{T}:11: op 'absent' takes no value",
        f"{T}:12: op 'in' needs a list value, found a string",
        f"{T}:13: invalid regular expression 'web-(': missing ), unterminated subpattern at position 4",
        f"{T}:14: unknown placeholder '{{actul}}' in message "
        "(expected one of: {kind}, {name}, {path}, {op}, {expected}, {actual}, {pods}, {ready}, {selector}, "
        "{pod_labels})",
        f"{T}:15: assertion is missing 'path'",
    ]


def test_observed_placeholders_only_in_checks_whose_target_kind_the_grader_observes_them_for():
    checks = """\
    checks:
      - target: {kind: Service, name: web}
        assert:
          - {path: spec.type, op: "==", value: ClusterIP, message: "{name} selects {selector}: {pods} pods"}
      - target: {apiVersion: discovery.k8s.io/v1, kind: EndpointSlice}
        assert:
          - {path: endpoints, op: exists, message: "{ready} of {pods} Ready; here: {pod_labels}"}
      - target: {apiVersion: apps/v1, kind: Deployment, name: web}
        assert:
          - {path: spec.replicas, op: "==", value: 3, message: "{selector}: {ready} of {pods}, {pod_labels}"}
      - target: {kind: Pod, selector: {app: web}}
        assert:
          - {path: metadata.name, op: exists, message: "{ready} of {pods} Ready; here: {pod_labels}"}
          - {path: metadata.name, op: exists, message: "the pods select {selector}"}
      - target: {kind: ConfigMap, name: web}
        assert:
          - {path: data, op: exists, message: "{kind} {name} feeds {pods} pods"}
      - kind: answer
        prompt: How many pods?
        expected: "3"
        message: "{answer} is not {pods}, the number of {kind}s"
    """
    assert task_errors(checks) == [
        f"{T}:18: placeholder '{{selector}}' in message is only observed for Service, EndpointSlice, Endpoints, "
        "Deployment, ReplicaSet targets, not Pod",
        f"{T}:21: placeholder '{{pods}}' in message is only observed for Service, EndpointSlice, Endpoints, "
        "Deployment, ReplicaSet, Pod targets, not ConfigMap",
        f"{T}:25: unknown placeholder '{{pods}}' in answer check's message (expected one of: {{answer}})",
        f"{T}:25: unknown placeholder '{{kind}}' in answer check's message (expected one of: {{answer}})",
    ]


def test_match_count_wait_and_their_values():
    checks = """\
    checks:
      - target: {kind: Pod}
        match: count
      - target: {kind: Pod}
        count: {op: ">=", value: 2}
      - target: {kind: Pod}
        match: every
        wait: ready
      - target: {kind: Service, name: web}
        wait: rollout
      - target: {kind: Pod}
        match: count
        count: {op: "~", value: true}
    """
    assert task_errors(checks) == [
        f"{T}:7: match: count needs count: {{op, value}}",
        f"{T}:9: count is only used with match: count",
        f"{T}:11: unknown match 'every' in check (expected one of: all, any, count)",
        f"{T}:12: unknown wait 'ready' in check (expected one of: rollout)",
        f"{T}:14: wait: rollout is for Deployment, ReplicaSet, Pod targets, not Service",
        f"{T}:17: 'value' in count must be an integer, found true or false",
        f"{T}:17: unknown op '~' in count (expected one of: ==, !=, <, <=, >, >=)",
    ]


def test_answer_checks():
    checks = """\
    checks:
      - kind: answer
        prompt: How many nodes?
      - kind: answer
        prompt: How many nodes?
        expected: "3"
        expected_from: {target: {kind: Node}, select: "length(@"}
        normalize: upper
      - kind: answer
        expected_from: {target: {kind: Node}}
    """
    assert task_errors(checks) == [
        f"{T}:6: answer check needs expected or expected_from",
        f"{T}:11: answer check has both expected and expected_from (use one)",
        f"{T}:11: invalid JMESPath 'length(@' in select: Invalid jmespath expression: Incomplete expression",
        f"{T}:12: unknown normalize 'upper' in answer check (expected one of: trim, lower, number)",
        f"{T}:13: answer check is missing 'prompt'",
        f"{T}:14: expected_from is missing 'select'",
    ]


def test_python_kinds_are_checked_against_the_graders_registry():
    checks = """\
    checks:
      - kind: rollout_to_image
        deployment: web
        image: [nginx]
        revisions: 2
      - kind: pod_replaced
        deployment: web
        baseline: pod_uid
    """
    assert task_errors(
        checks, setup="setup:\n  baseline:\n    pod_uids:\n      target: {kind: Pod}\n      select: '[]'"
    ) == [
        f"{T}:13: 'image' in rollout_to_image check must be a string, found a list",
        f"{T}:14: unknown key 'revisions' in rollout_to_image check (expected one of: deployment, image, kind, title)",
        f"{T}:17: the task's setup has no baseline 'pod_uid' (it defines: pod_uids)",
    ]


def test_a_target_port_is_compared_by_service_port_not_by_an_assertion():
    checks = """\
    checks:
      - target: {kind: Service, name: web}
        assert:
          - {path: "spec.ports[0].targetPort", op: "==", value: 8000}
          - {path: "spec.ports[?port==`80`] | [0].targetPort", op: exists}
          - {path: "spec.ports[0].port", op: "==", value: 80}
      - kind: service_port
        service: web
        port: 80
        reaches: 70000
        hint: [Set it.]
      - kind: service_port
        service: web
        port: "80"
    """
    refusal = (
        "compare a Service's target port with kind: service_port (a named targetPort is resolved against the pods)"
    )
    assert task_errors(checks) == [
        f"{T}:8: {refusal}",
        f"{T}:9: {refusal}",
        f"{T}:14: 'reaches' in service_port check must be a port, 1 to 65535",
        f"{T}:15: 'hint' in service_port check must be a string, found a list",
        f"{T}:16: service_port check is missing 'reaches'",
        f"{T}:18: 'port' in service_port check must be an integer, found a string",
    ]


# tasks.yaml: setup and templates


def test_setup_values_baselines_objects_and_pod_logs():
    setup = """\
    setup:
      values:
        code: {generate: words}
        my.code: {generate: hex}
      baseline:
        uids: {target: {kind: Pod}, select: "[].metadata.uid["}
        names: {target: {kind: Pod}}
        key: {target: {kind: Secret, name: db}, select: "[0].data.password"}
      objects:
        - {apiVersion: v1, kind: ConfigMap, metadata: {name: cm}}
        - {apiVersion: v1, kind: Service, spec: {}}
        - {apiVersion: example.com/v1, kind: Widget, metadata: {name: w}}
      pod_logs:
        - {pod: logger}
      secrets: []
    """
    assert task_errors("checks: [{target: {kind: Pod}}]", setup=setup) == [
        f"{T}:7: unknown generate 'words' in value 'code' (expected one of: word, number, hex)",
        f"{T}:8: value name 'my.code' may use only letters, digits, '_' and '-'",
        f"{T}:10: invalid JMESPath '[].metadata.uid[' in select: Invalid jmespath expression: Incomplete expression",
        f"{T}:11: baseline 'names' is missing 'select'",
        f"{T}:12: baseline 'key' reads a Secret: what setup reads is stored and may be shown, so it may not read "
        "Secrets",
        f"{T}:15: manifest is missing 'metadata.name'",
        f"{T}:16: unknown setup object kind 'Widget' (expected one of: ConfigMap, CronJob, DaemonSet, Deployment, "
        "EndpointSlice, Endpoints, Event, HorizontalPodAutoscaler, Ingress, Job, LimitRange, Logs, NetworkPolicy, "
        "Node, PersistentVolumeClaim, Pod, ReplicaSet, ResourceQuota, Secret, Service, ServiceAccount, StatefulSet)",
        f"{T}:18: pod log is missing 'text'",
        f"{T}:19: unknown key 'secrets' in setup (expected one of: baseline, objects, pod_logs, values)",
    ]


def test_templates_name_only_what_setup_defines():
    setup = """\
    setup:
      values:
        code: {generate: word}
      pod_logs:
        - {pod: logger, text: "your code is {{ values.code }} in {{ namespace }}"}
        - {pod: logger, text: "{{values.secret}}"}
    """
    checks = """\
    checks:
      - kind: answer
        prompt: The code?
        expected: "{{ values.code }}"
      - target: {kind: Pod}
        assert:
          - {path: metadata.uid, op: in, value: "{{ baseline.uids }}"}
          - {path: metadata.uid, op: in, value: "uid {{ baseline.uids }}"}
    """
    assert task_errors(checks, setup=setup) == [
        f"{T}:10: {{{{values.secret}}}}: the task's setup has no value 'secret' (it defines: code)",
        f"{T}:17: {{{{ baseline.uids }}}}: the task's setup has no baseline 'uids' (it defines none)",
        f"{T}:18: op 'in' needs a list value, found a string",
        f"{T}:18: {{{{ baseline.uids }}}}: the task's setup has no baseline 'uids' (it defines none)",
    ]


def test_solution_manifests_need_a_kind_and_a_name_but_may_be_of_any_kind():
    solution = """\
    solution:
      manifests:
        - {apiVersion: example.com/v1, kind: Widget, metadata: {name: w}}
        - {kind: Widget, metadata: {}}
      commands: [kubectl apply -f x]
    """
    assert task_errors("checks: [{target: {kind: Pod}}]", solution=solution) == [
        f"{T}:9: manifest is missing 'apiVersion'",
        f"{T}:9: manifest is missing 'metadata.name'",
        f"{T}:10: 'commands' in solution must be a string, found a list",
    ]


# quiz.yaml


def test_single_choice_needs_exactly_one_correct_and_multiple_at_least_one():
    quiz = """\
    questions:
      - id: two
        prompt: P
        kind: single
        choices: [{id: a, text: A, correct: true}, {id: b, text: B, correct: true}]
      - id: none
        prompt: P
        kind: single
        choices: [{id: a, text: A}, {id: b, text: B}]
      - id: many
        prompt: P
        kind: multiple
        choices: [{id: a, text: A}, {id: b, text: B}]
    """
    assert errors(quiz=quiz) == [
        f"{Q}:5: a single-choice question needs exactly one correct choice, found 2",
        f"{Q}:9: a single-choice question needs exactly one correct choice, found 0",
        f"{Q}:13: a multiple-choice question needs at least one correct choice",
    ]


def test_question_and_choice_ids_kinds_and_keys():
    quiz = """\
    questions:
      - id: q
        prompt: P
        kind: either
        choices:
          - {id: a, text: A, correct: "yes please"}
          - {id: a, text: B, correct: true}
          - {id: C!, txt: C}
      - id: q
        prompt: P
        kind: single
        choices: [{id: a, text: A, correct: true}]
    """
    assert errors(quiz=quiz) == [
        f"{Q}:4: unknown kind 'either' in question (expected one of: single, multiple)",
        f"{Q}:6: 'correct' in choice must be true or false, found a string",
        f"{Q}:7: duplicate choice id 'a' (first at line 6)",
        f"{Q}:8: unknown key 'txt' in choice (expected one of: correct, id, text)",
        f"{Q}:8: choice is missing 'text'",
        f"{Q}:8: choice id 'C!' may use only a-z, 0-9 and '-'",
        f"{Q}:9: duplicate question id 'q' (first at line 2)",
        f"{Q}:12: a question needs at least two choices",
    ]


# all of it at once


def test_every_error_in_every_file_is_reported_sorted_by_file_and_line():
    found = errors(
        course=COURSE + "extra: 1\n",
        lesson="No heading\n",
        tasks=TASKS.replace('op: "=="', "op: equals"),
        quiz=QUIZ.replace("kind: single", "kind: one"),
    )
    assert found == [
        f"{L}:1: lesson.md must start with a '# 15.7 Title' heading",
        f"{Q}:4: unknown kind 'one' in question (expected one of: single, multiple)",
        f"{T}:8: unknown op 'equals' in assertion "
        "(expected one of: ==, !=, <, <=, >, >=, in, contains, matches, exists, absent)",
        f"{C}:6: unknown key 'extra' in course (expected one of: description, lessons, slug, title)",
    ]


def test_paths_outside_the_current_directory_are_absolute(tmp_path, monkeypatch):
    root = write({"course.yaml": "slug: k8s\n"})
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    with pytest.raises(CourseInvalid) as raised:
        course_read(path=tmp_path / root)
    assert raised.value.errors[0] == f"{tmp_path}/course/course.yaml:1: course is missing 'title'"
