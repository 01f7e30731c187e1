"""Platforms (hangard.core.platform): parsing and matching tables."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hangard.core.platform import Platform, parse_platform
from hangard.errors import InputError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("linux/amd64", Platform("linux", "amd64")),
        ("linux/arm64/v8", Platform("linux", "arm64", "v8")),
        ("linux/arm/v7", Platform("linux", "arm", "v7")),
        ("Linux/AMD64", Platform("linux", "amd64")),
        (" linux/amd64 ", Platform("linux", "amd64")),
        ("linux/x86_64", Platform("linux", "amd64")),
        ("linux/x86-64", Platform("linux", "amd64")),
        ("linux/aarch64", Platform("linux", "arm64")),
        ("windows/amd64", Platform("windows", "amd64")),
    ],
)
def test_parse_platform(text: str, expected: Platform) -> None:
    assert parse_platform(text) == expected


@pytest.mark.parametrize(
    "text", ["", "linux", "linux/", "/amd64", "linux/arm/v7/extra", "linux//v7", "linux/arm/"]
)
def test_parse_platform_rejects(text: str) -> None:
    with pytest.raises(InputError, match=r"invalid platform .*expected os/arch\[/variant\]"):
        parse_platform(text)


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ({"os": "linux", "architecture": "amd64"}, Platform("linux", "amd64")),
        (
            {"os": "linux", "architecture": "arm", "variant": "v6"},
            Platform("linux", "arm", "v6"),
        ),
        ({"os": "linux", "architecture": "arm64", "variant": ""}, Platform("linux", "arm64")),
        ({"os": "unknown", "architecture": "unknown"}, Platform("unknown", "unknown")),
        ({}, Platform("", "")),
    ],
)
def test_from_json(doc: dict[str, str], expected: Platform) -> None:
    assert Platform.from_json(doc) == expected


@pytest.mark.parametrize(
    ("wanted", "candidate", "matches"),
    [
        ("linux/amd64", Platform("linux", "amd64"), True),
        ("linux/amd64", Platform("linux", "arm64"), False),
        ("linux/amd64", Platform("windows", "amd64"), False),
        # No variant in the request: any variant.
        ("linux/arm", Platform("linux", "arm", "v6"), True),
        ("linux/arm", Platform("linux", "arm", "v7"), True),
        ("linux/arm/v7", Platform("linux", "arm", "v7"), True),
        ("linux/arm/v7", Platform("linux", "arm", "v6"), False),
        ("linux/arm/v7", Platform("linux", "arm"), False),
        # arm64 without a variant means v8.
        ("linux/arm64/v8", Platform("linux", "arm64"), True),
        ("linux/arm64/v8", Platform("linux", "arm64", "v8"), True),
        ("linux/arm64", Platform("linux", "arm64", "v8"), True),
        ("linux/arm64", Platform("linux", "arm64"), True),
        ("linux/arm64/v9", Platform("linux", "arm64"), False),
        ("linux/arm64/v9", Platform("linux", "arm64", "v8"), False),
    ],
)
def test_matches(wanted: str, candidate: Platform, matches: bool) -> None:
    assert parse_platform(wanted).matches(candidate) is matches


def test_str_and_unknown() -> None:
    assert str(Platform("linux", "arm64", "v8")) == "linux/arm64/v8"
    assert str(Platform("linux", "amd64")) == "linux/amd64"
    assert Platform("unknown", "unknown").is_unknown
    assert not Platform("linux", "unknown").is_unknown


_word = st.text("abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=8)


@given(_word, _word, st.none() | _word)
def test_property_str_round_trips_and_self_matches(
    os_: str, arch: str, variant: str | None
) -> None:
    platform = parse_platform(str(Platform(os_, arch, variant)))
    assert platform.matches(platform)
    assert parse_platform(str(platform)) == platform


@given(st.text(max_size=30))
def test_property_random_text_only_raises_input_error(text: str) -> None:
    try:
        platform = parse_platform(text)
    except InputError:
        return
    assert parse_platform(str(platform)) == platform


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"os": "linux", "architecture": "arm64", "variant": "v8"}', "linux/arm64/v8"),
        (b'{"os": "linux", "architecture": "amd64"}', "linux/amd64"),
        (b"not json", None),
        (b"[1, 2]", None),  # JSON, but not an object
        (b"[" * 100_000 + b"]" * 100_000, None),  # nested past the parser's limit
        (b"", None),
    ],
)
def test_platform_from_a_config_blob(raw: bytes, expected: str | None) -> None:
    found = Platform.from_config(raw)
    assert (str(found) if found else None) == expected
