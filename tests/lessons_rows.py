"""Catalogue rows for tests that need a task without loading a course from files."""

from lessons.models import Course, Lesson, Task

REPLICAS_CHECK = {
    "title": "Deployment web has 3 replicas",
    "target": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
    "wait": "rollout",
    "assert": [
        {"path": "spec.replicas", "op": "==", "value": 3},
        {"path": "status.readyReplicas", "op": "==", "value": 3},
    ],
}


def course_with_task(*, course: str = "module-15-kubernetes", checks: list[dict] | None = None, **spec) -> Task:
    """A course with one lesson holding one task (by default: Deployment web, 3 ready replicas)."""
    course_row, _ = Course.objects.get_or_create(slug=course, defaults={"title": "Test course"})
    lesson, _ = Lesson.objects.get_or_create(
        course=course_row,
        slug="15.7-deployments",
        defaults={"number": "15.7", "title": "Deployments", "order": 1, "body_html": "<p>Deployments.</p>"},
    )
    return Task.objects.create(
        lesson=lesson,
        slug=f"task-{lesson.tasks.count() + 1}",
        order=lesson.tasks.count() + 1,
        title="Create a Deployment with 3 replicas",
        instructions_html="<p>Create it.</p>",
        hints_html=["<p>Use kubectl create deployment.</p>", "<p>--replicas=3</p>"],
        spec={"checks": checks or [REPLICAS_CHECK], "solution": {"commands": "kubectl create deployment web"}} | spec,
    )


def deployment(name: str = "web", *, replicas: int = 3, image: str = "nginx:1.27", annotations=None) -> dict:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels, "annotations": annotations or {}},
                "spec": {"containers": [{"name": name, "image": image}]},
            },
        },
    }
