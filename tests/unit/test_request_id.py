"""The request id: taken from a sane X-Request-ID or made, sent back, and on every log
line written while the request is served; JSON log lines hold it."""

import asyncio
import io
import json
import logging

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from labplatform.log_format import JsonFormatter
from labplatform.request_id import RequestIdFilter, RequestIdMiddleware, current_request_id
from tests.unit.test_settings import load_settings

log = logging.getLogger("tests.request_id")


@pytest.fixture
def json_lines():
    """What the `json` LOG_FORMAT writes, from this test's logger."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    log.removeHandler(handler)


def view_that_logs(request) -> HttpResponse:
    log.info("serving %s", request.path)
    return HttpResponse("ok")


def serve(header: str | None = None, view=view_that_logs) -> HttpResponse:
    headers = {} if header is None else {"HTTP_X_REQUEST_ID": header}
    return RequestIdMiddleware(view)(RequestFactory().get("/somewhere", **headers))


def test_a_sane_request_id_comes_back_on_the_response():
    assert serve("req-42_a.B")["X-Request-ID"] == "req-42_a.B"


def test_a_request_without_one_gets_a_new_id_each_time():
    first, second = serve()["X-Request-ID"], serve()["X-Request-ID"]
    assert len(first) == 32 and first != second


@pytest.mark.parametrize(
    "header",
    ["abc\nfake-line", "a" * 65, 'quote"d', "spaces in it", "", "ünïcode"],
    ids=["newline", "65-chars", "quote", "spaces", "empty", "non-ascii"],
)
def test_a_malicious_or_odd_request_id_is_replaced(header):
    sent_back = serve(header)["X-Request-ID"]
    assert sent_back != header
    assert len(sent_back) == 32 and sent_back.isalnum()


def test_64_characters_are_kept():
    assert serve("x" * 64)["X-Request-ID"] == "x" * 64


def test_a_log_line_in_a_view_is_json_with_the_request_id(json_lines):
    response = serve("trace-me")
    (line,) = json_lines()
    assert line["request_id"] == "trace-me" == response["X-Request-ID"]
    assert (line["level"], line["logger"], line["message"]) == ("INFO", "tests.request_id", "serving /somewhere")
    assert line["time"].endswith("+00:00")
    assert "exception" not in line


def test_the_id_is_gone_after_the_request(json_lines):
    serve("short-lived")
    log.info("between requests")
    assert json_lines()[-1]["request_id"] is None
    assert current_request_id.get() is None


def test_an_exception_is_in_the_line_and_the_line_stays_one_line(json_lines):
    def failing(request):
        try:
            raise ValueError("bad\nthing")
        except ValueError:
            log.exception("it failed")
        return HttpResponse("ok")

    serve("with-trace", view=failing)
    (line,) = json_lines()
    assert line["request_id"] == "with-trace"
    assert "ValueError: bad\nthing" in line["exception"]


def test_async_requests_carry_their_own_id(json_lines):
    async def async_view(request):
        await asyncio.sleep(0.01)
        log.info("async %s", request.headers["X-Request-ID"])
        return HttpResponse("ok")

    middleware = RequestIdMiddleware(async_view)

    async def both():
        factory = RequestFactory()
        return await asyncio.gather(
            middleware(factory.get("/", HTTP_X_REQUEST_ID="one")), middleware(factory.get("/", HTTP_X_REQUEST_ID="two"))
        )

    responses = asyncio.run(both())
    assert [r["X-Request-ID"] for r in responses] == ["one", "two"]
    assert sorted((line["message"], line["request_id"]) for line in json_lines()) == [
        ("async one", "one"),
        ("async two", "two"),
    ]


def test_an_unknown_log_format_stops_start_up_naming_it():
    result = load_settings(SECRET_KEY="x", LOG_FORMAT="yaml")
    assert result.returncode != 0
    assert "LOG_FORMAT='yaml' must be plain or json" in result.stderr


def test_djangos_response_log_after_the_middleware_still_has_the_id(json_lines):
    """django.request logs a 404 once the middleware has returned, passing the request."""
    request = RequestFactory().get("/missing", HTTP_X_REQUEST_ID="late-line")
    RequestIdMiddleware(view_that_logs)(request)
    log.warning("Not Found: %s", request.path, extra={"status_code": 404, "request": request})
    assert json_lines()[-1]["request_id"] == "late-line"
