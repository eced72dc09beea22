"""Telling open sockets that someone's access changed, so that each checks again whether
it may stay open (labplatform/sockets.py) and closes within seconds if not.

Pushed (`access_changed_push`, once the change commits) when a user signs out; when an
enrollment changes or goes (a student or instructor dropped or removed in the admin, a
role changed; `services.enrollment_drop` calls it itself, its UPDATE sends no signal);
when a user's staff or active flag changes; and for a cohort's students when their
environments are torn down (`services.cohort_teardown`). Receivers are connected in
CohortsConfig.ready().
"""

from collections.abc import Iterable

from django.contrib.auth import get_user_model, user_logged_out
from django.db import transaction
from django.db.models.signals import post_delete, post_save, pre_save

from labplatform import push
from labplatform.cohorts.models import Enrollment

# A change to one of these may take a right away; any other save of a user (the login's
# last_login, a name) does not.
_USER_RIGHTS = ("is_staff", "is_active")


def access_changed_push(user_ids: Iterable[int]) -> None:
    """Tells every socket of these users to check again, once the transaction commits
    (a socket checking earlier would read the rights as they were)."""
    messages = tuple(push.access_changed(user_id) for user_id in dict.fromkeys(user_ids) if user_id is not None)
    if messages:
        transaction.on_commit(lambda: push.send(*messages, what="access changed"))


def _signed_out(sender, request, user, **kwargs) -> None:
    if user is None:
        return
    if request is not None:
        # logout() flushes the session right after this signal; flushed here first, so
        # that the sockets told next find it gone (logout's own flush then finds nothing).
        request.session.flush()
    access_changed_push([user.pk])


def _enrollment_before_save(sender, instance: Enrollment, raw: bool = False, **kwargs) -> None:
    instance._user_id_before = (
        Enrollment.objects.filter(pk=instance.pk).values_list("user_id", flat=True).first()
        if instance.pk and not raw
        else None
    )


def _enrollment_saved(sender, instance: Enrollment, created: bool, raw: bool = False, **kwargs) -> None:
    if created or raw:
        return  # a new enrollment takes nothing away
    access_changed_push([instance.user_id, getattr(instance, "_user_id_before", None)])


def _enrollment_deleted(sender, instance: Enrollment, **kwargs) -> None:
    access_changed_push([instance.user_id])


def _user_before_save(sender, instance, raw: bool = False, update_fields=None, **kwargs) -> None:
    watched = [f for f in _USER_RIGHTS if update_fields is None or f in update_fields]
    before = None
    if instance.pk and not raw and watched:
        before = sender.objects.filter(pk=instance.pk).values(*watched).first()
    instance._rights_before = before


def _user_saved(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    before = getattr(instance, "_rights_before", None)
    if created or raw or not before:
        return
    if any(getattr(instance, field) != value for field, value in before.items()):
        access_changed_push([instance.pk])


def connect_receivers() -> None:
    user_model = get_user_model()
    user_logged_out.connect(_signed_out, dispatch_uid="access_changes.signed_out")
    pre_save.connect(_enrollment_before_save, sender=Enrollment, dispatch_uid="access_changes.enrollment_before")
    post_save.connect(_enrollment_saved, sender=Enrollment, dispatch_uid="access_changes.enrollment_saved")
    post_delete.connect(_enrollment_deleted, sender=Enrollment, dispatch_uid="access_changes.enrollment_deleted")
    pre_save.connect(_user_before_save, sender=user_model, dispatch_uid="access_changes.user_before")
    post_save.connect(_user_saved, sender=user_model, dispatch_uid="access_changes.user_saved")
