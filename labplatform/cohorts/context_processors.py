from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from labplatform.cohorts.banners import student_banners as banners_for


def student_banners(request: HttpRequest) -> dict:
    """`banners` for base.html; read only when a page that shows them is rendered."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"banners": SimpleLazyObject(lambda: banners_for(user=user))}
