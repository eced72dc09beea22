"""A request id on every request and every log line written while it is served.

The id comes from the client's (or the ingress controller's) `X-Request-ID` when it is a
plain token, else it is made here; it goes back on the response, so a user's report, the
proxy's log and the platform's log lines can be matched.
"""

import logging
import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
# Anything else (a newline, quotes, a megabyte) could forge or break log lines.
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")

current_request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def request_id_from(header: str | None) -> str:
    """The client's id if it is a sane token, else a new one."""
    if header is not None and _SANE.fullmatch(header):
        return header
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """First in MIDDLEWARE, so everything after it logs with the id. Sync and async: under
    ASGI the id is set on the request's own task, and sync views run in a copy of its
    context, so they see it too."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self._acall(request)
        token = self._begin(request)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response[HEADER] = request.request_id
        return response

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        token = self._begin(request)
        try:
            response = await self.get_response(request)
        finally:
            current_request_id.reset(token)
        response[HEADER] = request.request_id
        return response

    @staticmethod
    def _begin(request: HttpRequest):
        request.request_id = request_id_from(request.headers.get(HEADER))
        return current_request_id.set(request.request_id)


class RequestIdFilter(logging.Filter):
    """Gives every record a `request_id`: the current request's, or None outside one.
    Django logs 4xx and 5xx responses (logger django.request) after the middleware has
    returned, but passes the request along; its id is read from there."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id.get()
        if request_id is None:
            request_id = getattr(getattr(record, "request", None), "request_id", None)
        record.request_id = request_id
        return True
