"""The planner: expansion and decisions are pure values."""

from __future__ import annotations

import json

import pytest

from hangard.core.desired import DesiredState
from hangard.core.plan import ActionKind, Observation, Plan, expand, make_plan, pattern_repositories
from hangard.core.reference import parse_reference
from hangard.errors import AuthError, ErrorContext, Reason, ServerError

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


def state(**images: object) -> DesiredState:
    return DesiredState.model_validate(
        {
            "defaults": {"targets": ["m"]},
            "targets": {
                "m": {"registry": "mirror.example.com", "prefix": "hub"},
                "flat": {"registry": "flat.example.com", "mapping": "flatten"},
            },
            "images": images.get("images", []),
        }
    )


def test_expand_explicit_tags_and_mappings() -> None:
    s = state(
        images=[
            {"source": "nginx", "tags": ["1.27", "stable@" + D1], "targets": ["m", "flat"]},
            {"source": "quay.io/a/b/c", "tags": ["v1"], "destination": "tools/c"},
        ]
    )
    items, errors = expand(s, {})
    assert not errors
    got = {(i.image, i.tag, i.target): str(i.destination) for i in items}
    assert got == {
        ("docker.io/library/nginx", "1.27", "m"): "mirror.example.com/hub/library/nginx:1.27",
        ("docker.io/library/nginx", "1.27", "flat"): "flat.example.com/nginx:1.27",
        ("docker.io/library/nginx", "stable", "m"): "mirror.example.com/hub/library/nginx:stable",
        ("docker.io/library/nginx", "stable", "flat"): "flat.example.com/nginx:stable",
        ("quay.io/a/b/c", "v1", "m"): "mirror.example.com/tools/c:v1",
    }
    pinned = next(i for i in items if i.tag == "stable")
    assert pinned.source.digest == D1 and pinned.source.tag == "stable"


def test_expand_patterns_needs_tag_lists() -> None:
    s = state(images=[{"source": "alpine", "tags": {"semver": ">=3.18", "latest": 2}}])
    repos = pattern_repositories(s)
    assert repos == [parse_reference("alpine").repository]
    items, errors = expand(s, {repos[0]: ["3.17", "3.18", "3.19", "3.20", "edge"]})
    assert [i.tag for i in items] == ["3.19", "3.20"]
    items, errors = expand(s, {repos[0]: AuthError("HTTP 401 UNAUTHORIZED")})
    assert not items
    assert [(e.image, e.target, e.message) for e in errors] == [
        ("docker.io/library/alpine", "m", "HTTP 401 UNAUTHORIZED")
    ]
    # the listing's reason reaches the plan's error action
    (act,) = make_plan(items, {}, errors).actions
    assert (act.kind, act.reason) == (ActionKind.ERROR, Reason.UNAUTHORIZED)


@pytest.mark.parametrize(
    ("obs", "kind", "text"),
    [
        (Observation(D1, D1), ActionKind.IN_SYNC, "in-sync"),
        (Observation(D1, None), ActionKind.COPY, "copy (missing)"),
        (
            Observation(D1, D2),
            ActionKind.COPY,
            "copy (drift: target sha256:222222222222 ≠ source sha256:111111111111)",
        ),
        (
            Observation(None, D2),
            ActionKind.ERROR,
            "error (source docker.io/library/nginx:1 not found)",
        ),
        (Observation(D1, None, no_platform=True), ActionKind.SKIP, "skip (no matching platform)"),
        (
            Observation(error=ServerError("boom", ErrorContext(status=500))),
            ActionKind.ERROR,
            "error (boom [HTTP 500])",
        ),
        (Observation(D1, D3, desired_digest=D3), ActionKind.IN_SYNC, "in-sync"),
        (
            Observation(D1, D2, desired_digest=D3, platforms_match=True),
            ActionKind.IN_SYNC,
            "in-sync",
        ),
        (
            Observation(D1, D2, desired_digest=D3, platforms_match=False),
            ActionKind.COPY,
            "copy (drift: target sha256:222222222222 ≠ desired (platform subset) "
            "sha256:333333333333)",
        ),
    ],
)
def test_decisions(obs: Observation, kind: ActionKind, text: str) -> None:
    items, _ = expand(state(images=[{"source": "nginx", "tags": ["1"]}]), {})
    plan = make_plan(items, {items[0].key: obs})
    assert plan.actions[0].kind is kind
    assert plan.actions[0].describe() == text
    expected = obs.reason or Reason.NOT_FOUND if kind is ActionKind.ERROR else None
    assert plan.actions[0].reason == expected


def test_an_explicit_tag_that_is_gone_fails_a_vanished_pattern_tag_is_skipped() -> None:
    """Item 11: a tag the config names that returns 404 is a ``not_found``
    failure (today "skipped"); a pattern-selected tag that vanished between
    the listing and the HEAD stays a skip."""
    desired = state(
        images=[
            {"source": "nginx", "tags": ["1"]},
            {"source": "redis", "tags": {"include": ["7[.].*"]}},
        ]
    )
    redis = parse_reference("redis").repository
    items, _ = expand(desired, {redis: ["7.0"]})
    plan = make_plan(items, {i.key: Observation(None, None) for i in items})
    by_image = {a.item.image: a for a in plan.actions}
    gone = by_image["docker.io/library/nginx"]
    assert gone.kind is ActionKind.ERROR and gone.reason is Reason.NOT_FOUND
    assert gone.error is not None and gone.error.remedy
    vanished = by_image["docker.io/library/redis"]
    assert vanished.kind is ActionKind.SKIP and vanished.cause == "source missing"


def test_an_unobserved_item_is_an_error_of_reason_other() -> None:
    items, _ = expand(state(images=[{"source": "nginx", "tags": ["1"]}]), {})
    (act,) = make_plan(items, {}).actions
    assert (act.kind, act.cause, act.reason) == (
        ActionKind.ERROR,
        "not observed",
        Reason.OTHER,
    )


def test_plan_render_and_json_are_stable() -> None:
    s = state(images=[{"source": "nginx", "tags": ["2", "1"]}, {"source": "redis", "tags": ["7"]}])
    items, _ = expand(s, {})
    obs = {items[0].key: Observation(D1, D1), items[1].key: Observation(D1, None)}
    plan = make_plan(items, obs)
    assert isinstance(plan, Plan)
    text = plan.render().splitlines()
    assert text[0].startswith(
        "docker.io/library/nginx:1  ->  mirror.example.com/hub/library/nginx:1"
    )
    assert text[-1] == "plan: 3 items: 1 in sync, 1 to copy, 0 skipped, 1 errors"
    doc = json.loads(plan.to_json())
    assert doc["summary"] == {"in-sync": 1, "copy": 1, "skip": 0, "error": 1, "delete": 0}
    assert [a["action"] for a in doc["actions"]] == ["in-sync", "copy", "error"]
    assert doc["actions"][2]["cause"] == "not observed"
    assert plan.to_json() == make_plan(items, obs).to_json()


def test_pattern_repositories_by_schedule() -> None:
    s = state(
        images=[
            {"source": "alpine", "tags": {"latest": 1}},
            {"source": "redis", "tags": {"latest": 1}, "schedule": "1h"},
            {"source": "nginx", "tags": ["1"], "schedule": "1h"},
        ]
    )
    assert [r.path for r in pattern_repositories(s)] == ["library/alpine", "library/redis"]
    assert [r.path for r in pattern_repositories(s, frozenset({"1h"}))] == ["library/redis"]
    assert [r.path for r in pattern_repositories(s, frozenset({"15m"}))] == ["library/alpine"]


def test_one_tag_to_two_destinations_on_one_target_is_two_items() -> None:
    """Issue 9, item 13: the item is (image, tag, target, destination)."""
    s = state(
        images=[
            {"source": "nginx", "tags": ["1"], "destination": "a/nginx"},
            {"source": "nginx", "tags": ["1"], "destination": "b/nginx"},
        ]
    )
    items, _ = expand(s, {})
    assert [str(i.destination) for i in items] == [
        "mirror.example.com/a/nginx:1",
        "mirror.example.com/b/nginx:1",
    ]
    assert len({i.key for i in items}) == 2
    plan = make_plan(items, {i.key: Observation(D1, None) for i in items})
    assert [a.kind for a in plan.actions] == [ActionKind.COPY, ActionKind.COPY]
    assert len(json.loads(plan.to_json())["actions"]) == 2


def test_an_exact_repeat_is_one_item_and_explicit_wins() -> None:
    """The same source tag to the same destination twice (a pattern and an
    explicit tag) is one item, explicit: the config names the tag."""
    s = state(
        images=[
            {"source": "alpine", "tags": {"include": ["^3"]}},
            {"source": "alpine", "tags": ["3.20"]},
            {"source": "docker.io/library/alpine", "tags": ["3.20"]},
        ]
    )
    repo = parse_reference("alpine").repository
    items, _ = expand(s, {repo: ["3.20"]})
    assert [(i.tag, i.explicit) for i in items] == [("3.20", True)]
