"""Image reference parsing (hangard.core.reference): tables of good and bad names."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hangard.core.reference import (
    ImageReference,
    Repository,
    parse_digest,
    parse_reference,
    parse_repository,
)
from hangard.errors import InputError, InvalidReferenceError

D = "sha256:" + "0123456789abcdef" * 4
D512 = "sha512:" + "ab" * 64

GOOD: list[tuple[str, tuple[str, str, str | None, str | None]]] = [
    # text -> (registry, path, tag, digest)
    ("nginx", ("docker.io", "library/nginx", None, None)),
    ("nginx:latest", ("docker.io", "library/nginx", "latest", None)),
    ("library/nginx", ("docker.io", "library/nginx", None, None)),
    ("docker.io/nginx", ("docker.io", "library/nginx", None, None)),
    ("docker.io/library/nginx:1.25", ("docker.io", "library/nginx", "1.25", None)),
    ("docker://nginx:1.25", ("docker.io", "library/nginx", "1.25", None)),
    ("docker://quay.io/org/app", ("quay.io", "org/app", None, None)),
    ("index.docker.io/library/nginx", ("docker.io", "library/nginx", None, None)),
    ("registry-1.docker.io/bitnami/redis:7", ("docker.io", "bitnami/redis", "7", None)),
    ("index.docker.io/nginx", ("docker.io", "library/nginx", None, None)),
    ("Docker.IO/nginx", ("docker.io", "library/nginx", None, None)),
    ("user/app", ("docker.io", "user/app", None, None)),
    ("foo/bar/baz", ("docker.io", "foo/bar/baz", None, None)),
    ("localhost/app", ("localhost", "app", None, None)),
    ("localhost:5000/app:dev", ("localhost:5000", "app", "dev", None)),
    ("localhost", ("docker.io", "library/localhost", None, None)),
    ("127.0.0.1:5000/a/b", ("127.0.0.1:5000", "a/b", None, None)),
    ("[::1]:5000/app", ("[::1]:5000", "app", None, None)),
    ("example.com:443/a/b/c/d:v1.2.3", ("example.com:443", "a/b/c/d", "v1.2.3", None)),
    ("harbor.example.com/proj/sub/app", ("harbor.example.com", "proj/sub/app", None, None)),
    ("a.b/c", ("a.b", "c", None, None)),
    (f"quay.io/org/app@{D}", ("quay.io", "org/app", None, D)),
    (f"quay.io/org/app:v1@{D}", ("quay.io", "org/app", "v1", D)),
    (f"nginx@{D}", ("docker.io", "library/nginx", None, D)),
    (f"ghcr.io/o/a@{D512}", ("ghcr.io", "o/a", None, D512)),
    ("app:Tag_With.Mixed-Case", ("docker.io", "library/app", "Tag_With.Mixed-Case", None)),
    ("app:_x", ("docker.io", "library/app", "_x", None)),
    ("a__b/c.d/e-f/g--h", ("docker.io", "a__b/c.d/e-f/g--h", None, None)),
    ("  nginx  ", ("docker.io", "library/nginx", None, None)),
    ("app:" + "t" * 128, ("docker.io", "library/app", "t" * 128, None)),
]


@pytest.mark.parametrize(("text", "expected"), GOOD, ids=[t for t, _ in GOOD])
def test_good_references(text: str, expected: tuple[str, str, str | None, str | None]) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.path, ref.tag, ref.digest) == expected
    assert parse_reference(str(ref)) == ref


BAD: list[tuple[str, str]] = [
    ("", "empty reference"),
    ("   ", "empty reference"),
    ("docker://", "empty reference"),
    ("http://nginx", "only the docker:// transport"),
    ("oci://x/y", "only the docker:// transport"),
    ("Nginx", "must be lowercase"),
    ("user/App", "must be lowercase"),
    ("LOCALHOST/app", "must be lowercase"),
    ("nginx:", "invalid tag ''"),
    ("nginx:-x", "invalid tag '-x'"),
    ("nginx:.x", "invalid tag '.x'"),
    ("nginx:" + "t" * 129, "invalid tag"),
    ("foo:bar:baz", "invalid tag 'bar:baz'"),
    ("nginx@", "digest must look like sha256"),
    ("nginx@sha256:abc", "sha256 digest must be 64 lowercase hex digits"),
    ("nginx@sha256:" + "A" * 64, "64 lowercase hex digits"),
    ("nginx@md5:" + "a" * 32, "unsupported digest algorithm 'md5'"),
    ("nginx@sha512:" + "a" * 64, "128 lowercase hex digits"),
    (f"nginx@{D}@{D}", "digest must look like"),
    (f"@{D}", "repository name is empty"),
    ("example.com/", "repository name is empty"),
    ("a//b", "empty segment"),
    ("/nginx", "empty segment"),
    ("nginx/", "empty segment"),
    ("a b", "contains whitespace"),
    ("a\tb", "contains whitespace"),
    ("exa_mple.com/foo", "invalid registry host 'exa_mple.com'"),
    ("-bad.com/foo", "invalid registry host"),
    ("example.com:/foo", "invalid registry host 'example.com:'"),
    ("localhost:123456/foo", "invalid registry host"),
    ("a___b", "invalid path segment 'a___b'"),
    ("a..b", "invalid path segment"),
    ("-a", "invalid path segment '-a'"),
    ("a-", "invalid path segment 'a-'"),
    ("a/.b", "invalid path segment '.b'"),
    ("café", "invalid path segment"),
    ("x/" + "y" * 260, "longer than 255"),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[t[:40] for t, _ in BAD])
def test_bad_references(text: str, message: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference(text)
    assert message in str(info.value)
    assert repr(text) in str(info.value)
    assert isinstance(info.value, InputError)
    assert info.value.exit_code == 2


def test_non_str_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        parse_reference(b"nginx")  # type: ignore[arg-type]


def test_reference_property_and_helpers() -> None:
    ref = parse_reference("quay.io/org/app")
    assert ref.reference == "latest"
    assert ref.name == "quay.io/org/app"
    assert ref.with_tag("v2").reference == "v2"
    pinned = ref.with_tag("v2").with_digest(D)
    assert pinned.reference == D
    assert str(pinned) == f"quay.io/org/app:v2@{D}"
    assert pinned.with_tag("v3") == ImageReference("quay.io", "org/app", tag="v3")
    repo = Repository("r.example.com", "mirror/app")
    assert repo.tag("t") == ImageReference("r.example.com", "mirror/app", tag="t")
    assert repo.digest(D).reference == D


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nginx", Repository("docker.io", "library/nginx")),
        ("docker://localhost:5000/a/b", Repository("localhost:5000", "a/b")),
    ],
)
def test_parse_repository(text: str, expected: Repository) -> None:
    assert parse_repository(text) == expected


@pytest.mark.parametrize("text", ["nginx:1", f"nginx@{D}"])
def test_parse_repository_rejects_tag_or_digest(text: str) -> None:
    with pytest.raises(InvalidReferenceError, match="takes no tag or digest"):
        parse_repository(text)


def test_parse_digest() -> None:
    assert parse_digest(D) == D
    with pytest.raises(InvalidReferenceError, match="sha256:<64 hex digits>"):
        parse_digest("nope")


# --- properties ----------------------------------------------------------------------

_alnum = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
_separator = st.sampled_from([".", "_", "__", "-", "--"])


@st.composite
def path_components(draw: st.DrawFn, separators: st.SearchStrategy[str] = _separator) -> str:
    parts = [draw(_alnum)]
    for _ in range(draw(st.integers(0, 2))):
        parts += [draw(separators), draw(_alnum)]
    return "".join(parts)


_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_hosts = st.one_of(
    st.just("localhost"),
    st.lists(_label, min_size=2, max_size=4).map(".".join),
    st.sampled_from(["docker.io", "index.docker.io", "127.0.0.1", "[::1]"]),
)
_registries = st.one_of(
    st.none(),
    st.tuples(_hosts, st.none() | st.integers(1, 65535)).map(
        lambda hp: hp[0] if hp[1] is None else f"{hp[0]}:{hp[1]}"
    ),
)
_tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)
_digests = st.one_of(
    st.binary(min_size=32, max_size=32).map(lambda b: "sha256:" + b.hex()),
    st.binary(min_size=64, max_size=64).map(lambda b: "sha512:" + b.hex()),
)


@st.composite
def valid_references(draw: st.DrawFn) -> str:
    registry = draw(_registries)
    components = draw(st.lists(path_components(), min_size=1, max_size=4))
    if registry is None:
        # Without a registry, a dotted first segment would be read as a host.
        components[0] = draw(path_components(_separator.filter(lambda s: s != ".")))
    path = "/".join(components)
    text = f"{registry}/{path}" if registry else path
    tag = draw(st.none() | _tags)
    digest = draw(st.none() | _digests)
    if tag:
        text += f":{tag}"
    if digest:
        text += f"@{digest}"
    if draw(st.booleans()):
        text = "docker://" + text
    return text


@given(valid_references())
def test_property_str_round_trips(text: str) -> None:
    ref = parse_reference(text)
    again = parse_reference(str(ref))
    assert again == ref
    assert str(again) == str(ref)
    assert ref.registry not in ("index.docker.io", "registry-1.docker.io")
    if ref.registry == "docker.io":
        assert "/" in ref.path


@given(st.text(max_size=80))
def test_property_random_text_only_raises_invalid_reference(text: str) -> None:
    try:
        ref = parse_reference(text)
    except InvalidReferenceError:
        return
    assert parse_reference(str(ref)) == ref


_ref_alphabet = st.sampled_from([*"abcXYZ019:/@._-", "sha256:", "docker://", "localhost"])


@given(st.lists(_ref_alphabet, max_size=20).map("".join))
def test_property_reference_like_text_only_raises_invalid_reference(text: str) -> None:
    try:
        ref = parse_reference(text)
    except InvalidReferenceError:
        return
    assert parse_reference(str(ref)) == ref
