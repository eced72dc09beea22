"""How much evidence a student's attempts keep: a task's latest LESSONS_EVIDENCE_ATTEMPTS
attempts keep theirs (each within evidence.ATTEMPT_BYTES); an older attempt keeps its
row, state, summary and each check's title, status and message (what the dashboard's
counts and its most common failing message are made of) and loses only the evidence. So
a flood of Checks cannot grow a student's stored evidence beyond
tasks x LESSONS_EVIDENCE_ATTEMPTS x ATTEMPT_BYTES."""

from django.conf import settings

from lessons.grading.evidence import results_without_evidence
from lessons.models import Attempt

# At most this many older attempts lose their evidence per call; one a call is the usual
# (the attempt that has just come in pushes one out).
_BATCH = 50


def evidence_drop_older(*, progress_id: int) -> int:
    """Drops the evidence of the task's finished attempts older than its latest
    LESSONS_EVIDENCE_ATTEMPTS (pending ones are left alone); returns how many it dropped."""
    keep = settings.LESSONS_EVIDENCE_ATTEMPTS
    older = list(
        Attempt.objects.filter(progress_id=progress_id, evidence_dropped=False)
        .order_by("-created_at", "-pk")
        .values_list("pk", flat=True)[keep : keep + _BATCH]
    )
    dropped = 0
    rows = Attempt.objects.filter(pk__in=older).exclude(state=Attempt.State.PENDING).only("pk", "results")
    for attempt in rows:
        dropped += Attempt.objects.filter(pk=attempt.pk, evidence_dropped=False).update(
            results=results_without_evidence(attempt.results), evidence_dropped=True
        )
    return dropped
