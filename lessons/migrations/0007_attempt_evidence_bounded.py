"""Attempts stored before evidence was bounded: each is brought within the bounds new ones
keep (lessons/grading/evidence.py), and a task's attempts past its latest
LESSONS_EVIDENCE_ATTEMPTS lose their evidence (lessons/grading/retention.py). Rows,
states, messages and counts stay. Nothing to undo: evidence cut off is not kept."""

from django.conf import settings
from django.db import migrations

from lessons.grading.evidence import results_stored, results_without_evidence

# Rows read at a time: an attempt stored before this could hold a megabyte of evidence.
_CHUNK = 20


def evidence_bound(apps, schema_editor):
    Attempt = apps.get_model("lessons", "Attempt")
    keep = settings.LESSONS_EVIDENCE_ATTEMPTS
    progress_id, rank = None, 0
    rows = (
        Attempt.objects.order_by("progress_id", "-created_at", "-pk")
        .only("pk", "progress_id", "state", "results")
        .iterator(chunk_size=_CHUNK)
    )
    for attempt in rows:
        rank = rank + 1 if attempt.progress_id == progress_id else 1
        progress_id = attempt.progress_id
        bounded = results_stored(attempt.results or [])
        if rank > keep and attempt.state != "pending":
            Attempt.objects.filter(pk=attempt.pk).update(
                results=results_without_evidence(bounded), evidence_dropped=True
            )
        elif bounded != attempt.results:
            Attempt.objects.filter(pk=attempt.pk).update(results=bounded)


class Migration(migrations.Migration):
    dependencies = [
        ("lessons", "0006_attempt_evidence_dropped"),
    ]

    operations = [
        migrations.RunPython(evidence_bound, migrations.RunPython.noop, elidable=True),
    ]
