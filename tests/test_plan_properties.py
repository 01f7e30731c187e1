"""Properties of the planner (hangard.core.plan): whatever the desired state
and whatever the registries said, the plan has one action per item, and the
decision follows from the observed digests."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hangard.core.desired import DesiredState
from hangard.core.plan import (
    ActionKind,
    ExpansionProblem,
    Observation,
    SyncItem,
    expand,
    make_plan,
)
from hangard.core.reference import parse_reference
from hangard.errors import (
    AuthError,
    HangardError,
    NotFoundError,
    OperationError,
    ServerError,
    TransportTimeoutError,
)

LabelKey = tuple[str, str, str]

SOURCES = ("nginx", "redis", "quay.io/org/tool", "ghcr.io/a/b/c")
TAGS = ("1", "1.2", "latest", "v3")
TARGET_NAMES = ("m", "flat", "other")
DIGESTS = tuple(f"sha256:{c * 64}" for c in "0123456789abcdef")

SMALL = settings(max_examples=60, deadline=None)

entries = st.fixed_dictionaries(
    {
        "source": st.sampled_from(SOURCES),
        "tags": st.lists(st.sampled_from(TAGS), min_size=1, max_size=3),
        "targets": st.lists(st.sampled_from(TARGET_NAMES), min_size=1, max_size=3, unique=True),
    }
)


def desired(images: list[dict[str, Any]]) -> DesiredState:
    return DesiredState.model_validate(
        {
            "targets": {
                "m": {"registry": "mirror.example.com", "prefix": "hub"},
                "flat": {"registry": "flat.example.com", "mapping": "flatten"},
                "other": {"registry": "other.example.com:5000"},
            },
            "images": images,
        }
    )


def wanted_keys(images: list[dict[str, Any]]) -> set[LabelKey]:
    """The (image, tag, target) set, worked out without the planner (no
    entry here sets a destination: one item each)."""
    return {
        (str(parse_reference(e["source"]).repository), tag, target)
        for e in images
        for tag in e["tags"]
        for target in e["targets"]
    }


@st.composite
def sync_items(draw: st.DrawFn, min_size: int = 0) -> list[SyncItem]:
    images = draw(st.lists(entries, min_size=min_size, max_size=4))
    items, errors = expand(desired(images), {})
    assert not errors
    return items


digests = st.sampled_from(DIGESTS)
optional_digests = st.none() | digests
observations = st.builds(
    Observation,
    source_digest=optional_digests,
    target_digest=optional_digests,
    desired_digest=optional_digests,
    platforms_match=st.none() | st.booleans(),
    no_platform=st.booleans(),
    error=st.none()
    | st.sampled_from(
        [ServerError("boom"), TransportTimeoutError("timed out"), OperationError("")]
    ),
)


@SMALL
@given(images=st.lists(entries, max_size=5), data=st.data())
def test_every_desired_item_appears_exactly_once(
    images: list[dict[str, Any]], data: st.DataObject
) -> None:
    items, _ = expand(desired(images), {})
    # some items observed (anything at all), the rest not observed
    observed = data.draw(st.lists(st.sampled_from(items), unique=True)) if items else []
    obs = {item.key: data.draw(observations) for item in observed}
    plan = make_plan(items, obs)
    counts = Counter(a.key for a in plan.actions)
    assert {key[:3] for key in counts} == wanted_keys(images)
    assert len(counts) == len(wanted_keys(images))
    assert all(n == 1 for n in counts.values())
    assert [a.key for a in plan.actions] == sorted(counts)
    assert sum(plan.summary.values()) == len(plan.actions)
    for action in plan.actions:
        if action.key not in obs:
            assert action.kind is ActionKind.ERROR
            assert action.cause == "not observed"


@SMALL
@given(items=sync_items(), n_errors=st.integers(0, 3))
def test_expansion_errors_each_get_one_error_action(items: list[SyncItem], n_errors: int) -> None:
    errors = [
        ExpansionProblem(f"docker.io/library/e{i}", "m", OperationError(f"listing failed {i}"))
        for i in range(n_errors)
    ]
    plan = make_plan(items, {}, errors)
    assert len(plan.actions) == len(items) + n_errors
    by_key = {a.key: a for a in plan.actions}
    for err in errors:
        action = by_key[err.key]
        assert action.kind is ActionKind.ERROR
        assert action.cause == err.message
        assert action.item is err


@SMALL
@given(data=st.data(), items=sync_items(min_size=1))
def test_target_equal_to_source_is_in_sync(data: st.DataObject, items: list[SyncItem]) -> None:
    obs = {}
    for item in items:
        digest = data.draw(digests)
        obs[item.key] = Observation(
            source_digest=digest,
            target_digest=digest,
            platforms_match=data.draw(st.none() | st.booleans()),
        )
    plan = make_plan(items, obs)
    assert plan.summary["in-sync"] == len(items)
    assert all(a.kind is ActionKind.IN_SYNC and a.describe() == "in-sync" for a in plan.actions)


@SMALL
@given(data=st.data(), items=sync_items(min_size=1))
def test_drift_is_always_a_copy(data: st.DataObject, items: list[SyncItem]) -> None:
    obs = {}
    for item in items:
        source, target = data.draw(st.lists(digests, min_size=2, max_size=2, unique=True))
        obs[item.key] = Observation(
            source_digest=source,
            target_digest=target,
            # not a platform subset whose platforms all match
            platforms_match=data.draw(st.sampled_from([None, False])),
        )
    plan = make_plan(items, obs)
    for action in plan.actions:
        assert action.kind is ActionKind.COPY
        assert action.cause == "drift"
        assert action.source_digest == obs[action.key].source_digest
        assert action.target_digest == obs[action.key].target_digest
        assert action.describe().startswith("copy (drift: ")


@SMALL
@given(data=st.data(), items=sync_items(min_size=1))
def test_subset_drift_from_the_desired_digest_is_a_copy(
    data: st.DataObject, items: list[SyncItem]
) -> None:
    obs = {}
    for item in items:
        source, want, target = data.draw(st.lists(digests, min_size=3, max_size=3, unique=True))
        obs[item.key] = Observation(source, target, desired_digest=want, platforms_match=False)
    plan = make_plan(items, obs)
    assert all(a.kind is ActionKind.COPY and a.cause == "drift" for a in plan.actions)


@SMALL
@given(data=st.data(), items=sync_items(min_size=1))
def test_missing_target_is_always_a_copy(data: st.DataObject, items: list[SyncItem]) -> None:
    obs = {}
    for item in items:
        obs[item.key] = Observation(
            source_digest=data.draw(digests),
            target_digest=None,
            desired_digest=data.draw(optional_digests),
            platforms_match=data.draw(st.none() | st.booleans()),
        )
    plan = make_plan(items, obs)
    for action in plan.actions:
        assert action.kind is ActionKind.COPY
        assert action.cause == "missing"
        assert action.target_digest is None
        assert action.describe() == "copy (missing)"


@SMALL
@given(
    base=observations,
    items=sync_items(min_size=1),
    message=st.text(min_size=1, max_size=20),
    error=st.sampled_from([NotFoundError, AuthError, TransportTimeoutError, OperationError]),
)
def test_source_error_is_always_an_error(
    base: Observation, items: list[SyncItem], message: str, error: type[HangardError]
) -> None:
    # whatever else was observed, an error wins
    obs = replace(base, error=error(message))
    plan = make_plan(items, {item.key: obs for item in items})
    for action in plan.actions:
        assert action.kind is ActionKind.ERROR
        assert action.cause == message
        assert action.reason is error.reason
        assert action.source_digest == base.source_digest


@SMALL
@given(items=sync_items(min_size=1), obs=observations)
def test_the_plan_is_deterministic(items: list[SyncItem], obs: Observation) -> None:
    by_key = {item.key: obs for item in items}
    first = make_plan(items, by_key)
    again = make_plan(list(reversed(items)), dict(reversed(list(by_key.items()))))
    assert first == again
    assert first.to_json() == again.to_json()
    assert first.render() == again.render()
