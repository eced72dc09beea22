"""Invite links: how a person the platform created sets their first password.

A link carries its invite's id, signed with the secret key and no timestamp, so the same
link can be shown and exported again while the invite is open. Whether it still works is
decided by the row: it expires, it is spent when used, and it is revoked when regenerated.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core import signing
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from labplatform.cohorts.models import Cohort, Enrollment, Invite, enrolled

INVITE_SALT = "labplatform.invite"
_ASK_ADMIN = "Ask your course admin for a new link."


class InviteError(Exception):
    """Why an invite link cannot be used, worded for the person who followed it."""

    INVALID = "invalid"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    USED = "used"
    REVOKED = "revoked"
    DISABLED = "disabled"

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind

    @property
    def status(self) -> int:
        # A malformed link is a bad request; a real link that no longer works is gone.
        return 400 if self.kind == self.INVALID else 410


@dataclass(frozen=True)
class InviteLink:
    """An enrolled person who may still need a link; `invite` is None when they have no open one."""

    enrollment: Enrollment
    invite: Invite | None


def invite_create(*, user: AbstractUser, valid_days: int) -> Invite:
    return Invite.objects.create(user=user, expires_at=timezone.now() + timedelta(days=valid_days))


def invite_token(invite: Invite) -> str:
    # signing.dumps would add a timestamp, making a new link each time it is shown.
    return signing.Signer(salt=INVITE_SALT).sign_object(str(invite.pk))


def invite_url(invite: Invite, *, base_url: str) -> str:
    return base_url.rstrip("/") + reverse("invite-redeem", kwargs={"token": invite_token(invite)})


def invite_regenerate(*, user: AbstractUser, valid_days: int) -> Invite:
    with transaction.atomic():
        # Two clicks on Regenerate must leave one open link, not two: the second waits here,
        # then revokes the link the first one made.
        get_user_model().objects.select_for_update().get(pk=user.pk)
        _open(Invite.objects.filter(user=user), include_expired=True).update(revoked_at=timezone.now())
        return invite_create(user=user, valid_days=valid_days)


def invite_for_token(*, token: str) -> Invite:
    """The open invite a link names, with its user; raises InviteError saying why not."""
    return _usable(_invite_for_token(token, Invite.objects.select_related("user")))


def invite_redeem(*, token: str, password: str) -> AbstractUser:
    """Sets the user's password and spends the invite. The password is expected to have
    passed Django's password validation already (SetPasswordForm does that)."""
    with transaction.atomic():
        # A double-submitted form must not use one invite twice: the second request waits
        # on this row lock, then finds used_at set.
        invite = _usable(
            _invite_for_token(token, Invite.objects.select_for_update(of=("self",)).select_related("user"))
        )
        now = timezone.now()
        user = invite.user
        user.set_password(password)
        user.save(update_fields=["password"])
        invite.used_at = now
        invite.save(update_fields=["used_at"])
        # Once the password is set, any other link for this person would reset it: close them.
        _open(Invite.objects.filter(user=user), include_expired=True).update(revoked_at=now)
    return user


def invite_open_for_user(*, user: AbstractUser) -> Invite | None:
    return _open(Invite.objects.filter(user=user)).order_by("-created_at").first()


def open_invites(cohort: Cohort) -> QuerySet[Invite]:
    """The open invites of everyone enrolled (and not dropped) in `cohort`, by username, newest first."""
    return (
        _open(Invite.objects.filter(enrolled("user__enrollments"), user__enrollments__cohort=cohort))
        .select_related("user")
        .order_by("user__username", "-created_at")
    )


def cohort_invite_links(*, cohort: Cohort) -> list[InviteLink]:
    """Everyone enrolled in `cohort` who has an open invite or has never set a password."""
    newest_invite: dict[int, Invite] = {}
    for invite in open_invites(cohort):
        newest_invite.setdefault(invite.user_id, invite)
    enrollments = Enrollment.objects.active().filter(cohort=cohort).select_related("user").order_by("user__username")
    return [
        InviteLink(enrollment=enrollment, invite=newest_invite.get(enrollment.user_id))
        for enrollment in enrollments
        if enrollment.user_id in newest_invite or not enrollment.user.has_usable_password()
    ]


def _open(invites: QuerySet[Invite], *, include_expired: bool = False) -> QuerySet[Invite]:
    invites = invites.filter(used_at=None, revoked_at=None)
    return invites if include_expired else invites.filter(expires_at__gt=timezone.now())


def _invite_for_token(token: str, invites: QuerySet[Invite]) -> Invite:
    try:
        invite_id = signing.Signer(salt=INVITE_SALT).unsign_object(token)
        return invites.get(pk=invite_id)
    except signing.BadSignature:
        raise InviteError(
            "This invite link is not valid: it may have been cut short when it was copied. "
            "Open the whole link from your invitation, or ask your course admin for a new one.",
            kind=InviteError.INVALID,
        ) from None
    except Invite.DoesNotExist:
        raise InviteError(
            f"This invite link no longer exists: it may have been deleted. {_ASK_ADMIN}", kind=InviteError.UNKNOWN
        ) from None


def _usable(invite: Invite) -> Invite:
    if invite.used_at is not None:
        raise InviteError(
            f"This invite link was already used, on {_when(invite.used_at)}, to set a password. "
            "Sign in with that password; if you have forgotten it, ask your course admin for a new link.",
            kind=InviteError.USED,
        )
    if invite.revoked_at is not None:
        raise InviteError(
            "This invite link was replaced by a newer one. Use the newest link you were sent, "
            "or ask your course admin for a new one.",
            kind=InviteError.REVOKED,
        )
    if invite.expires_at <= timezone.now():
        raise InviteError(
            f"This invite link expired on {_when(invite.expires_at)}. {_ASK_ADMIN}", kind=InviteError.EXPIRED
        )
    if not invite.user.is_active:
        raise InviteError(
            "The account this invite link is for has been disabled. Ask your course admin.",
            kind=InviteError.DISABLED,
        )
    return invite


def _when(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%d %B %Y at %H:%M %Z")
