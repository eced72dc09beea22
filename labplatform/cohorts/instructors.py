"""Who may see a cohort's dashboard: its instructors (enrolled as such, not dropped) and
staff. One place for the rule, used by the views and the live socket alike."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from labplatform.cohorts.models import Cohort, Enrollment, enrolled


def cohorts_taught(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Cohort]:
    if not user.is_authenticated:
        return Cohort.objects.none()
    if user.is_staff:
        return Cohort.objects.all()
    return Cohort.objects.filter(
        enrolled("enrollments", role=Enrollment.Role.INSTRUCTOR), enrollments__user=user
    ).distinct()


def teaching_cohort(user: AbstractBaseUser | AnonymousUser, *, slug: str) -> Cohort | None:
    """The cohort if the user may watch it; None whether it is missing or not theirs."""
    return cohorts_taught(user).select_related("cluster").filter(slug=slug).first()


NOT_TEACHING = "You do not teach this cohort, or it does not exist."


def not_teaching(request: HttpRequest) -> HttpResponse:
    """The one answer to a cohort the user may not act on, whichever page asked (403)."""
    context = {"message": NOT_TEACHING, "back_url": "teaching-list", "back_label": "Your cohorts"}
    return render(request, "refused.html", context, status=403)
