"""Pure unit tests: ``WWW-Authenticate`` parsing, scope merging, retry delays."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from hangard.registry.auth import merge_scopes, pull_scope, push_scope
from hangard.registry.challenge import Challenge, parse_challenges
from hangard.registry.retry import MAX_RETRY_AFTER, retry_delay

# ---------------------------------------------------------------- challenges
CHALLENGES: list[tuple[str, list[tuple[str, dict[str, str]]]]] = [
    ("", []),
    ('Basic realm="Registry Realm"', [("basic", {"realm": "Registry Realm"})]),
    (
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/alpine:pull,push"',
        [
            (
                "bearer",
                {
                    "realm": "https://auth.docker.io/token",
                    "service": "registry.docker.io",
                    "scope": "repository:library/alpine:pull,push",
                },
            )
        ],
    ),
    # scheme and parameter names are case-insensitive; spaces around '=' and ','
    (
        'BEARER Realm = "https://r/t" ,  Service="s"',
        [("bearer", {"realm": "https://r/t", "service": "s"})],
    ),
    # unquoted (token) values
    (
        "Bearer realm=https://r/t,service=reg",
        [("bearer", {"realm": "https://r/t", "service": "reg"})],
    ),
    # escaped quote inside a quoted value
    (r'Basic realm="say \"hi\", twice"', [("basic", {"realm": 'say "hi", twice'})]),
    # several challenges in one header
    (
        'Basic realm="b", Bearer realm="https://r/t",error="insufficient_scope"',
        [
            ("basic", {"realm": "b"}),
            ("bearer", {"realm": "https://r/t", "error": "insufficient_scope"}),
        ],
    ),
    # a scheme without parameters
    ("Negotiate", [("negotiate", {})]),
]


@pytest.mark.parametrize(("header", "expected"), CHALLENGES)
def test_parse_challenges(header: str, expected: list[tuple[str, dict[str, str]]]) -> None:
    assert [(c.scheme, c.params) for c in parse_challenges(header)] == expected


def test_challenge_accessors() -> None:
    [c] = parse_challenges(
        'Bearer realm="/token",service="svc",scope="repository:a:pull repository:b:push",'
        'error="insufficient_scope"'
    )
    assert c.realm == "/token" and c.service == "svc" and c.error == "insufficient_scope"
    assert c.scopes == ["repository:a:pull", "repository:b:push"]
    assert Challenge("basic").scopes == [] and Challenge("basic").realm is None


@pytest.mark.parametrize(
    ("realm", "url", "expected"),
    [
        ("/token", "http://127.0.0.1:5000/v2/", "http://127.0.0.1:5000/token"),
        ("token", "https://r.example/v2/", "https://r.example/v2/token"),
        ("https://auth.example/t", "http://127.0.0.1:5000/v2/", "https://auth.example/t"),
    ],
)
def test_relative_realm_is_resolved(realm: str, url: str, expected: str) -> None:
    assert Challenge("bearer", {"realm": realm}).resolve_realm(url) == expected


# -------------------------------------------------------------------- scopes
@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        ([], ()),
        (["repository:a:pull"], ("repository:a:pull",)),
        (["repository:a:pull", "repository:a:push"], ("repository:a:push,pull",)),
        (["repository:a:pull", "repository:a:pull,push"], ("repository:a:push,pull",)),
        (["repository:a:push,pull", "repository:a:pull"], ("repository:a:push,pull",)),
        (
            ["repository:dst:push,pull", "repository:src:pull"],
            ("repository:dst:push,pull", "repository:src:pull"),
        ),
        # order of input does not matter: the cache key is stable
        (
            ["repository:src:pull", "repository:dst:push,pull"],
            ("repository:dst:push,pull", "repository:src:pull"),
        ),
        # a registry host with a port inside the name
        (["repository:host:5000/a:pull"], ("repository:host:5000/a:pull",)),
        (["registry:catalog:*"], ("registry:catalog:*",)),
        (["repository:a:delete", "repository:a:pull"], ("repository:a:delete,pull",)),
    ],
)
def test_merge_scopes(scopes: list[str], expected: tuple[str, ...]) -> None:
    assert merge_scopes(scopes) == expected


def test_scope_builders_put_push_first() -> None:
    assert pull_scope("a/b") == "repository:a/b:pull"
    assert push_scope("a/b") == "repository:a/b:push,pull"
    assert merge_scopes([push_scope("a/b")]) == (push_scope("a/b"),)


# --------------------------------------------------------------- retry delay
def _response(**headers: str) -> httpx.Response:
    return httpx.Response(503, headers=headers)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("0", 0.0), ("3", 3.0), (" 7 ", 7.0), ("100000", MAX_RETRY_AFTER)],
)
def test_retry_after_seconds(retry_after: str, expected: float) -> None:
    response = _response(**{"Retry-After": retry_after})
    delay = retry_delay(1, response, base=0.5, cap=30, now=time.time())
    assert delay == expected


def test_retry_after_http_date() -> None:
    now = 1_700_000_000.0  # a fixed "now": the date is read against it, not the real clock
    when = email.utils.formatdate(now + 5, usegmt=True)
    assert retry_delay(1, _response(**{"Retry-After": when}), base=0.5, cap=30, now=now) == 5.0
    past = email.utils.formatdate(now - 60, usegmt=True)
    assert retry_delay(1, _response(**{"Retry-After": past}), base=0.5, cap=30, now=now) == 0.0
    far = email.utils.formatdate(now + 3600, usegmt=True)
    delay = retry_delay(1, _response(**{"Retry-After": far}), base=0.5, cap=30, now=now)
    assert delay == MAX_RETRY_AFTER


@pytest.mark.parametrize("bad", ["soon", "1.5", "-1"])
def test_unparseable_retry_after_falls_back_to_backoff(bad: str) -> None:
    response = _response(**{"Retry-After": bad})
    delay = retry_delay(2, response, base=1.0, cap=30, now=0.0, rng=lambda: 0.5)
    assert delay == 1.0  # ceiling 2 s, full jitter at the middle


@pytest.mark.parametrize(
    ("attempt", "high"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (10, 5.0)],
)
def test_backoff_is_exponential_with_full_jitter_and_capped(attempt: int, high: float) -> None:
    assert retry_delay(attempt, None, base=0.5, cap=5.0, now=0.0, rng=lambda: 0.0) == 0.0
    top = retry_delay(attempt, None, base=0.5, cap=5.0, now=0.0, rng=lambda: 0.999999)
    assert high * 0.99 <= top <= high
