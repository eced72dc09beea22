"""The course catalogue (loaded from lessons/content by `load_course`), and each student's
progress, attempts, hints and quiz submissions."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from labplatform.cohorts.models import Enrollment


class Course(models.Model):
    slug = models.SlugField(max_length=100, unique=True)
    title = models.CharField(max_length=200)
    description_html = models.TextField(blank=True)
    loaded_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.title


class Lesson(models.Model):
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="lessons")
    slug = models.SlugField(max_length=100)  # the folder name, e.g. "15.7-deployments"
    number = models.CharField(max_length=20)  # "15.7"
    title = models.CharField(max_length=200)
    order = models.PositiveIntegerField()
    body_html = models.TextField()
    # A lesson left out of the course's latest load keeps its students' work but is not shown.
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["course", "order"]
        constraints = [models.UniqueConstraint(fields=["course", "slug"], name="lesson_slug_per_course")]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class Task(models.Model):
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="tasks")
    slug = models.SlugField(max_length=100)  # the task's id in tasks.yaml
    order = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    instructions_html = models.TextField()
    hints_html = models.JSONField(default=list)  # one HTML string per hint, in order
    # What the engine needs, as validated from tasks.yaml: setup, checks, solution.
    spec = models.JSONField(default=dict)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["lesson", "order"]
        constraints = [models.UniqueConstraint(fields=["lesson", "slug"], name="task_slug_per_lesson")]

    def __str__(self) -> str:
        return f"{self.lesson.number} {self.title}"

    @property
    def checks(self) -> list[dict]:
        return self.spec.get("checks", [])

    @property
    def answer_prompts(self) -> list[str]:
        return [check.get("prompt", "Your answer") for check in self.checks if check.get("kind") == "answer"]


class QuizQuestion(models.Model):
    class Kind(models.TextChoices):
        SINGLE = "single", "Single choice"
        MULTIPLE = "multiple", "Multiple choice"

    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="questions")
    slug = models.SlugField(max_length=100)
    order = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    prompt_html = models.TextField()
    choices = models.JSONField(default=list)  # [{"id": "a", "html": "..."}], shown to students
    correct = models.JSONField(default=list)  # ["b"]: never rendered before submission
    explanation_html = models.TextField(blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["lesson", "order"]
        constraints = [models.UniqueConstraint(fields=["lesson", "slug"], name="question_slug_per_lesson")]

    def __str__(self) -> str:
        return f"{self.lesson.number} quiz: {self.slug}"


class TaskProgress(models.Model):
    """One student's work on one task: created when they open it."""

    class State(models.TextChoices):
        OPEN = "open", "Not checked yet"
        PENDING = "pending", "Checking"
        FAILED = "failed", "Failed"
        PASSED = "passed", "Passed"

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="task_progress")
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="progress")
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    opened_at = models.DateTimeField(default=timezone.now)
    first_passed_at = models.DateTimeField(null=True, blank=True)
    attempts_count = models.PositiveIntegerField(default=0)
    hints_used = models.PositiveIntegerField(default=0)
    # What the task's setup made and read: {"values": {...}, "baseline": {...}}.
    setup_data = models.JSONField(default=dict)
    setup_done_at = models.DateTimeField(null=True, blank=True)
    setup_error = models.TextField(blank=True)
    # Who is running the setup now: a request claims it for a while (lessons/services.py),
    # so that a second tab waits for it instead of running it again.
    setup_claimed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["enrollment", "task"], name="one_progress_per_task")]

    def __str__(self) -> str:
        return f"{self.enrollment.student_id} {self.task.slug}: {self.state}"


class HintReveal(models.Model):
    progress = models.ForeignKey(TaskProgress, on_delete=models.CASCADE, related_name="hint_reveals")
    index = models.PositiveIntegerField()
    revealed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["progress", "index"]
        constraints = [models.UniqueConstraint(fields=["progress", "index"], name="one_reveal_per_hint")]

    def __str__(self) -> str:
        return f"hint {self.index + 1} of {self.progress}"


class Attempt(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Checking"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        ERROR = "error", "Error"

    progress = models.ForeignKey(TaskProgress, on_delete=models.CASCADE, related_name="attempts")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    answers = models.JSONField(default=list)  # what the student typed, one per answer check
    # Per check: {"title", "status": passed|failed|pending, "message", "evidence": {...}},
    # bounded as lessons/grading/evidence.py says.
    results = models.JSONField(default=list)
    # Only a task's latest LESSONS_EVIDENCE_ATTEMPTS attempts keep their evidence; an older
    # one keeps its checks' titles, statuses and messages (lessons/grading/retention.py).
    evidence_dropped = models.BooleanField(default=False)
    message = models.TextField(blank=True)  # the attempt's summary, or why it is an error
    # Grading runs in rounds (a pending check is re-checked later); a round is stored once,
    # by the first worker to finish it, so a redelivered task changes nothing.
    round = models.PositiveIntegerField(default=0)
    # While pending: the most the cluster had got with what the checks wait for (pods
    # Ready, endpoints listed), and when it last got further; grading waits while it does.
    progress_mark = models.PositiveIntegerField(default=0)
    progressed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["progress", "-created_at"]),
            # The attempts that still hold evidence, newest first: what retention reads.
            models.Index(
                fields=["progress", "-created_at"],
                condition=models.Q(evidence_dropped=False),
                name="attempt_evidence_kept",
            ),
        ]

    def __str__(self) -> str:
        return f"attempt {self.pk}: {self.state}"


class QuizSubmission(models.Model):
    """A student's answers to a lesson's quiz. A quiz takes one submission, and it is the
    student's score: the database holds at most one that counts per student and lesson, so
    two racing POSTs cannot both land (lessons/services.py quiz_submit)."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="quiz_submissions")
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="quiz_submissions")
    answers = models.JSONField(default=dict)  # {"question-slug": ["a", "c"]}
    results = models.JSONField(default=dict)  # {"question-slug": true}
    score = models.PositiveIntegerField()
    max_score = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    # False only for the retakes stored before the one-submission policy (migration 0008
    # kept them, and kept each student's earliest submission as the one that counts).
    counts = models.BooleanField(default=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["enrollment", "lesson"], condition=models.Q(counts=True), name="one_counted_quiz_submission"
            )
        ]

    def __str__(self) -> str:
        return f"{self.enrollment.student_id} {self.lesson.number} quiz: {self.score}/{self.max_score}"


class PageActivity(models.Model):
    """When a student last used a lesson page (throttled): with the terminal's activity,
    what tells an idle student from a busy one."""

    enrollment = models.OneToOneField(Enrollment, on_delete=models.CASCADE, related_name="page_activity")
    last_seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.enrollment.student_id} last seen {self.last_seen_at:%Y-%m-%d %H:%M}"


class StaffAction(models.Model):
    """Something an instructor or admin did to a student's work, with their reason."""

    class Kind(models.TextChoices):
        RESET = "reset", "Reset the environment"
        REGRADE = "regrade", "Regraded a task"
        MARK_PASSED = "mark_passed", "Marked a task passed"

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="staff_actions")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="staff_actions")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    task = models.ForeignKey(Task, on_delete=models.SET_NULL, null=True, blank=True, related_name="staff_actions")
    attempt = models.ForeignKey(Attempt, on_delete=models.SET_NULL, null=True, blank=True, related_name="staff_actions")
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.actor} {self.kind} for {self.enrollment.student_id}"
