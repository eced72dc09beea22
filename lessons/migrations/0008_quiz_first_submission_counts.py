"""A quiz takes one submission, and the first one is the student's score.

Databases made before this policy may hold several submissions of one student for one
lesson (retakes, made after the page had shown the right choices). None is deleted: each
student's earliest submission for a lesson (by created_at, then id) keeps counts=True, the
later ones get counts=False, and then a unique index on (enrollment, lesson) where counts
holds one counted submission per student and lesson. The earliest, because it is the only
one the student made without having seen the answers, and it is the one the policy would
have kept had it been in force. Reversing drops the index and the column; no row is lost
either way."""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def keep_the_earliest_counted(apps, schema_editor):
    QuizSubmission = apps.get_model("lessons", "QuizSubmission")
    earliest = (
        QuizSubmission.objects.filter(enrollment=OuterRef("enrollment"), lesson=OuterRef("lesson"))
        .order_by("created_at", "pk")
        .values("pk")[:1]
    )
    later = QuizSubmission.objects.annotate(earliest=Subquery(earliest)).exclude(pk=models.F("earliest"))
    QuizSubmission.objects.filter(pk__in=later.values("pk")).update(counts=False)


class Migration(migrations.Migration):
    dependencies = [
        ("lessons", "0007_attempt_evidence_bounded"),
    ]

    operations = [
        migrations.AddField(
            model_name="quizsubmission",
            name="counts",
            field=models.BooleanField(default=True),
        ),
        migrations.RunPython(keep_the_earliest_counted, migrations.RunPython.noop, elidable=False),
        migrations.AddConstraint(
            model_name="quizsubmission",
            constraint=models.UniqueConstraint(
                condition=models.Q(counts=True),
                fields=("enrollment", "lesson"),
                name="one_counted_quiz_submission",
            ),
        ),
    ]
