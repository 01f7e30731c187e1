"""Tag selection rules (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hangard.core.desired import TagRules
from hangard.core.tags import parse_semver_range, parse_version, select_tags
from hangard.errors import InputError

TAGS = [
    "latest",
    "1.24",
    "1.25.3",
    "v1.26.0",
    "1.26.1-rc1",
    "1.27",
    "2.0.0",
    "alpine",
    "1.27-alpine",
]


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        (TagRules(include=[r"1\.2\d"]), ["1.24", "1.27"]),  # anchored: no 1.25.3, no 1.27-alpine
        (TagRules(include=[r"1\..*"], exclude=[r".*-.*"]), ["1.24", "1.25.3", "1.27"]),
        (TagRules(exclude=["latest", "alpine"]), sorted(set(TAGS) - {"latest", "alpine"})),
        (TagRules(semver=">=1.25 <2"), ["1.27", "v1.26.0", "1.25.3"]),
        (TagRules(semver="^1.26"), ["1.27", "v1.26.0"]),
        (TagRules(latest=2), ["2.0.0", "1.27"]),
        (TagRules(semver="<2", latest=1), ["1.27"]),
        (TagRules(include=[r"v.*"], semver=">=1"), ["v1.26.0"]),
        (TagRules(semver=">=3"), []),
    ],
)
def test_select_tags(rules: TagRules, expected: list[str]) -> None:
    assert select_tags(TAGS, rules) == expected


def test_prerelease_excluded_from_plain_ranges() -> None:
    assert "1.26.1-rc1" not in select_tags(TAGS, TagRules(semver=">=1.26"))


@pytest.mark.parametrize(
    ("tag", "version"),
    [
        ("1", "1.0.0"),
        ("v2.3", "2.3.0"),
        ("1.2.3-rc.1", "1.2.3-rc.1"),
        ("latest", None),
        ("1.2.3.4", None),
    ],
)
def test_parse_version(tag: str, version: str | None) -> None:
    parsed = parse_version(tag)
    assert (str(parsed) if parsed else None) == version


def test_bad_semver_range() -> None:
    with pytest.raises(InputError, match="bad semver range"):
        parse_semver_range(">>>1")


def test_rules_need_something() -> None:
    with pytest.raises(ValueError, match="needs include"):
        TagRules()


_version_tags = st.builds(
    lambda v, a, b, c: f"{v}{a}.{b}.{c}",
    st.sampled_from(["", "v"]),
    st.integers(0, 20),
    st.integers(0, 20),
    st.integers(0, 20),
)


@given(st.lists(_version_tags, max_size=30), st.integers(min_value=1, max_value=5))
def test_latest_is_top_n_of_versions(tags: list[str], n: int) -> None:
    chosen = select_tags(tags, TagRules(latest=n))
    assert len(chosen) == min(n, len(set(tags)))
    versions = [v for t in chosen if (v := parse_version(t)) is not None]
    assert len(versions) == len(chosen)  # latest keeps versions only
    assert versions == sorted(versions, reverse=True)
    rest = [v for t in set(tags) - set(chosen) if (v := parse_version(t)) is not None]
    assert all(v <= versions[-1] for v in rest) if chosen else True
