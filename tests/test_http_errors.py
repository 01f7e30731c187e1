"""Pure unit tests of :func:`hangard.registry.errormap.response_error` and
:func:`~hangard.registry.errormap.parse_error_body`: which error class an answer
becomes, the remedy it carries, and how leniently bodies are read. The
responses are built by hand, each with the request that produced it."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from hangard.errors import (
    AuthError,
    Hint,
    NotFoundError,
    RateLimitedError,
    ResponseError,
    ServerError,
)
from hangard.hints import CONFIG_HINTS
from hangard.registry.errormap import parse_error_body, response_error, transport_error

REGISTRY = "registry.example:5000"
IMAGE = f"{REGISTRY}/team/app:v1"
MANIFEST_URL = f"https://{REGISTRY}/v2/team/app/manifests/v1"
BLOB_URL = f"https://{REGISTRY}/v2/team/app/blobs/sha256:{'a' * 64}"
UPLOAD_URL = f"https://{REGISTRY}/v2/team/app/blobs/uploads/1234?_state=secret-state&digest=x"

HARBOR_GC = (
    "the registry calls content unknown right after it was pushed; on Harbor this "
    "happens after deletions until garbage collection runs: run GC, then retry"
)
INSPECT = f"image does not exist: check with `hangard inspect --raw docker://{IMAGE}`"
# the config's words by default (hints for the command line: tests/test_hints.py)
PUSH_AUTH = CONFIG_HINTS.text(Hint.PUSH_CREDENTIALS, REGISTRY)
PULL_AUTH = CONFIG_HINTS.text(Hint.CREDENTIALS, REGISTRY)
RATE_LIMIT = "lower concurrency or wait for the quota window"


def registry_errors(code: str, message: str = "details") -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message, "detail": {}}]}


def answer(
    status: int,
    method: str = "GET",
    url: str = MANIFEST_URL,
    body: bytes | dict[str, Any] | list[Any] = b"",
    **headers: str,
) -> httpx.Response:
    """A read response to ``method url`` (a JSON body when given a dict or list)."""
    if not isinstance(body, bytes):
        headers.setdefault("Content-Type", "application/json")
        body = json.dumps(body).encode()
    return httpx.Response(status, headers=headers, content=body, request=httpx.Request(method, url))


def translate(response: httpx.Response, image: str | None = IMAGE) -> ResponseError:
    return response_error(response, registry=REGISTRY, image=image)


# ------------------------------------------------------------ class and remedy
CASES: dict[str, tuple[httpx.Response, type[ResponseError], str | None]] = {
    "manifest-unknown-on-get": (
        answer(404, body=registry_errors("MANIFEST_UNKNOWN")),
        NotFoundError,
        INSPECT,
    ),
    "manifest-unknown-on-head-no-body": (answer(404, "HEAD"), NotFoundError, INSPECT),
    "manifest-unknown-on-put": (
        answer(404, "PUT", body=registry_errors("MANIFEST_UNKNOWN")),
        NotFoundError,
        HARBOR_GC,
    ),
    "blob-unknown": (
        answer(404, url=BLOB_URL, body=registry_errors("BLOB_UNKNOWN")),
        NotFoundError,
        None,
    ),
    "blob-404-no-body": (answer(404, "HEAD", url=BLOB_URL), NotFoundError, None),
    "name-unknown-with-400": (
        # the code decides even when the status is odd
        answer(400, body=registry_errors("NAME_UNKNOWN")),
        NotFoundError,
        None,
    ),
    "401-on-put": (answer(401, "PUT"), AuthError, PUSH_AUTH),
    "401-on-post": (answer(401, "POST", url=UPLOAD_URL), AuthError, PUSH_AUTH),
    "403-denied-on-patch": (
        answer(403, "PATCH", url=UPLOAD_URL, body=registry_errors("DENIED")),
        AuthError,
        PUSH_AUTH,
    ),
    "401-on-get": (answer(401, body=registry_errors("UNAUTHORIZED")), AuthError, PULL_AUTH),
    "denied-code-with-400": (answer(400, body=registry_errors("DENIED")), AuthError, PULL_AUTH),
    "429": (answer(429), RateLimitedError, RATE_LIMIT),
    "toomanyrequests-code": (
        answer(503, body=registry_errors("TOOMANYREQUESTS", "pull rate limit")),
        RateLimitedError,
        RATE_LIMIT,
    ),
    "500": (answer(500, body=b"oops"), ServerError, None),
    "503-unavailable": (answer(503, body=registry_errors("UNAVAILABLE")), ServerError, None),
    "405": (answer(405, "PUT", url=UPLOAD_URL), ResponseError, None),
    "400-blob-upload-invalid": (
        answer(400, "PUT", url=UPLOAD_URL, body=registry_errors("BLOB_UPLOAD_INVALID")),
        ResponseError,
        None,
    ),
}


@pytest.mark.parametrize(("response", "kind", "remedy"), CASES.values(), ids=CASES.keys())
def test_error_class_and_remedy(
    response: httpx.Response, kind: type[ResponseError], remedy: str | None
) -> None:
    err = translate(response)

    assert type(err) is kind
    assert err.remedy == remedy
    if remedy is not None:
        assert str(err).endswith(f"(hint: {remedy})")
    assert err.status == response.status_code
    assert err.context.method == response.request.method


def test_manifest_unknown_remedy_without_an_image_shows_a_placeholder() -> None:
    err = translate(answer(404, body=registry_errors("MANIFEST_UNKNOWN")), image=None)
    assert err.remedy == "image does not exist: check with `hangard inspect --raw docker://IMAGE`"


def test_rate_limit_is_its_own_reason() -> None:
    err = translate(answer(429, body=registry_errors("TOOMANYREQUESTS", "slow down")))
    assert isinstance(err, RateLimitedError) and err.reason == "rate_limited"
    assert err.code == "TOOMANYREQUESTS" and err.message == "slow down"


# ------------------------------------------------------------------- context
def test_context_names_everything_but_the_query() -> None:
    err = translate(answer(404, "PUT", url=UPLOAD_URL, body=registry_errors("BLOB_UNKNOWN", "?")))

    ctx = err.context
    assert (ctx.image, ctx.registry, ctx.method, ctx.status) == (IMAGE, REGISTRY, "PUT", 404)
    assert (ctx.code, ctx.detail) == ("BLOB_UNKNOWN", "?")
    assert ctx.url == UPLOAD_URL.split("?")[0]
    assert "secret-state" not in str(err)
    assert str(err).startswith(f"? [image {IMAGE}, registry {REGISTRY}, PUT {ctx.url}")


# ---------------------------------------------------------------- lenient bodies
BODIES: dict[str, tuple[bytes | dict[str, Any] | list[Any], str | None, str | None]] = {
    "registry-json": (registry_errors("DENIED", "no"), "DENIED", "no"),
    "first-error-wins": (
        {"errors": [{"code": "A", "message": "first"}, {"code": "B", "message": "second"}]},
        "A",
        "first",
    ),
    "code-without-message": ({"errors": [{"code": "DENIED"}]}, "DENIED", None),
    "message-only-json": ({"message": "project not found"}, None, "project not found"),
    "empty-errors": ({"errors": []}, None, None),
    "errors-not-a-list": ({"errors": "DENIED"}, None, None),
    "errors-of-strings": ({"errors": ["DENIED"]}, None, None),
    "json-list": (["DENIED"], None, None),
    "json-string": (b'"denied"', None, None),
    "plain-text": (b"  Request Entity Too Large\n", None, "Request Entity Too Large"),
    "blank": (b" \n ", None, None),
    "empty": (b"", None, None),
    "not-utf8": (b"caf\xe9 closed", None, "caf\ufffd closed"),
}


@pytest.mark.parametrize(("body", "code", "message"), BODIES.values(), ids=BODIES.keys())
def test_parse_error_body(
    body: bytes | dict[str, Any] | list[Any], code: str | None, message: str | None
) -> None:
    assert parse_error_body(answer(400, body=body)) == (code, message)


def test_html_body_is_kept_short_and_never_raises() -> None:
    html = b"<html><head><title>502 Bad Gateway</title></head><body>" + b"x" * 500 + b"</body>"
    err = translate(answer(502, body=html, **{"Content-Type": "text/html"}))

    assert isinstance(err, ServerError) and err.code is None
    assert err.message.startswith("<html><head><title>502 Bad Gateway")
    assert len(err.message) <= 200 and err.context.detail == err.message


def test_plain_text_body_becomes_the_message() -> None:
    err = translate(answer(413, "PUT", url=UPLOAD_URL, body=b"Request Entity Too Large"))
    assert type(err) is ResponseError
    assert err.message == "Request Entity Too Large" and err.code is None


@pytest.mark.parametrize(
    ("status", "text"), [(404, "Not Found"), (401, "Unauthorized"), (599, "HTTP 599")]
)
def test_head_without_body_falls_back_to_the_reason_phrase(status: int, text: str) -> None:
    err = translate(answer(status, "HEAD"))
    assert err.message == text
    assert err.code is None and err.context.detail is None


def test_a_streamed_body_not_read_is_no_error() -> None:
    """A streamed answer whose body was never read gives no code, not an exception."""
    response = httpx.Response(
        404,
        stream=httpx.ByteStream(json.dumps(registry_errors("MANIFEST_UNKNOWN")).encode()),
        request=httpx.Request("GET", MANIFEST_URL),
    )
    assert parse_error_body(response) == (None, None)
    err = translate(response)
    assert isinstance(err, NotFoundError) and err.remedy == INSPECT


@pytest.mark.parametrize(
    ("exc", "attempts", "expected"),
    [
        (httpx.ConnectError("refused"), 1, "connection failed: refused"),
        (httpx.ConnectError("refused"), 5, "connection failed after 5 attempts: refused"),
        (httpx.ReadTimeout("slow"), 3, "timed out after 3 attempts: slow"),
    ],
)
def test_transport_errors_say_how_often_they_were_tried(
    exc: Exception, attempts: int, expected: str
) -> None:
    err = transport_error(
        exc,
        registry="reg.example.com",
        method="GET",
        url="https://reg.example.com/v2/",
        attempts=attempts,
    )

    assert str(err).startswith(expected + " [registry reg.example.com, GET ")
    assert err.reason == ("timeout" if isinstance(exc, httpx.TimeoutException) else "network")
