"""Hangar image list parsing (hangard.config.hangarlist): table-driven."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hangard.config.hangarlist import digest_tag, parse_hangar_list
from hangard.core.desired import ListLine

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("line", "source", "tag", "digest", "destination"),
    [
        ("nginx", "docker.io/library/nginx", "latest", None, None),
        ("nginx:1.27", "docker.io/library/nginx", "1.27", None, None),
        ("docker.io/library/nginx:1.27", "docker.io/library/nginx", "1.27", None, None),
        ("index.docker.io/bitnami/redis:7", "docker.io/bitnami/redis", "7", None, None),
        ("docker://quay.io/org/app:v2", "quay.io/org/app", "v2", None, None),
        ("localhost:5000/app", "localhost:5000/app", "latest", None, None),
        (f"quay.io/a/b@{DIGEST}", "quay.io/a/b", digest_tag(DIGEST), DIGEST, None),
        (f"quay.io/a/b:1.0@{DIGEST}", "quay.io/a/b", "1.0", DIGEST, None),
        ("  nginx:1.27  ", "docker.io/library/nginx", "1.27", None, None),
        ("nginx:1.27 # the web server", "docker.io/library/nginx", "1.27", None, None),
        ("nginx:1.27\t// the web server", "docker.io/library/nginx", "1.27", None, None),
        # SOURCE DEST TAG
        (
            "docker.io/library/nginx library/web 1.27",
            "docker.io/library/nginx",
            "1.27",
            None,
            "library/web",
        ),
        ("nginx web 1.27", "docker.io/library/nginx", "1.27", None, "web"),
        ("quay.io/a/b\tmirror/b\tv1", "quay.io/a/b", "v1", None, "mirror/b"),
        ("quay.io/a/b /mirror/b/ v1", "quay.io/a/b", "v1", None, "mirror/b"),
        (f"quay.io/a/b c 1.0@{DIGEST}", "quay.io/a/b", "1.0", DIGEST, "c"),
    ],
)
def test_good_lines(
    line: str, source: str, tag: str, digest: str | None, destination: str | None
) -> None:
    lines, problems = parse_hangar_list(line + "\n", "l.txt")
    assert problems == []
    assert lines == [
        ListLine(line=1, source=source, tag=tag, digest=digest, destination=destination)
    ]


@pytest.mark.parametrize(
    "text",
    ["", "\n\n", "# comment\n", "   # indented comment\n", "// comment\n", "  \t \n"],
)
def test_skipped_lines(text: str) -> None:
    assert parse_hangar_list(text, "l.txt") == ([], [])


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Nginx", "l.txt:1:1: invalid image reference 'Nginx': repository name must be lowercase"),
        (
            "  nginx:-bad",
            "l.txt:1:3: invalid image reference 'nginx:-bad': invalid tag '-bad' "
            "(1-128 of A-Z a-z 0-9 _ . -, not starting . or -)",
        ),
        (
            "nginx@sha256:abc",
            "l.txt:1:1: invalid image reference 'nginx@sha256:abc': "
            "sha256 digest must be 64 lowercase hex digits",
        ),
        ("nginx web", "l.txt:1:1: expected an image reference or 'SOURCE DEST TAG', got 2 fields"),
        ("a b c d", "l.txt:1:1: expected an image reference or 'SOURCE DEST TAG', got 4 fields"),
        (
            "nginx:1.27 web 1.27",
            "l.txt:1:1: SOURCE 'nginx:1.27' must be a repository without "
            "tag or digest; the tag is the third field",
        ),
        (
            "nginx reg.example.com/web 1.27",
            "l.txt:1:7: DEST 'reg.example.com/web' names a "
            "registry host (reg.example.com); DEST is a repository path placed on each target "
            "registry, and the targets choose the registries",
        ),
        (
            "nginx localhost:5000/web 1.27",
            "l.txt:1:7: DEST 'localhost:5000/web' names a "
            "registry host (localhost:5000); DEST is a repository path placed on each target "
            "registry, and the targets choose the registries",
        ),
        (
            "nginx Web 1.27",
            "l.txt:1:7: invalid destination 'Web': repository name must be lowercase",
        ),
        (
            "nginx web:1 1.27",
            "l.txt:1:7: DEST 'web:1' must be a repository path without tag or digest",
        ),
        (
            "nginx web .bad",
            "l.txt:1:11: invalid tag '.bad' (1-128 of A-Z a-z 0-9 _ . -, not starting . or -)",
        ),
        (
            "nginx web 1@sha256:x",
            "l.txt:1:11: invalid tag '1@sha256:x': sha256 digest must be 64 lowercase hex digits",
        ),
        (
            "nginx web 1@md5:x",
            "l.txt:1:11: invalid tag '1@md5:x': unsupported digest algorithm 'md5'",
        ),
    ],
)
def test_bad_lines(line: str, expected: str) -> None:
    lines, problems = parse_hangar_list(line + "\n", "l.txt")
    assert lines == []
    assert [str(p) for p in problems] == [expected]


def test_every_bad_line_is_reported_and_good_lines_kept() -> None:
    text = "\ufeff# list\r\nnginx:1.27\r\nBad\r\n\r\nredis web 7\r\na b\r\nalpine\r\n"
    lines, problems = parse_hangar_list(text, "lists/x.txt")
    assert [(line.line, line.source) for line in lines] == [
        (2, "docker.io/library/nginx"),
        (5, "docker.io/library/redis"),
        (7, "docker.io/library/alpine"),
    ]
    assert [(p.file, p.line, p.column) for p in problems] == [
        ("lists/x.txt", 3, 1),
        ("lists/x.txt", 6, 1),
    ]


def test_byte_order_mark_does_not_shift_columns() -> None:
    _, problems = parse_hangar_list("\ufeffBad\n", "l.txt")
    assert [(p.line, p.column) for p in problems] == [(1, 1)]


_NAME = st.from_regex(r"[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,2}", fullmatch=True)
_TAG = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)


@given(source=_NAME, dest=_NAME, tag=_TAG)
def test_mirror_lines_round_trip(source: str, dest: str, tag: str) -> None:
    lines, problems = parse_hangar_list(f"quay.io/{source} {dest} {tag}", "l.txt")
    assert problems == []
    assert lines == [ListLine(line=1, source=f"quay.io/{source}", tag=tag, destination=dest)]
