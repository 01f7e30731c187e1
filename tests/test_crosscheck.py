"""hangard.core.crosscheck: problems that need the whole desired state."""

from __future__ import annotations

from typing import Any

import pytest

from hangard.core.crosscheck import check_references
from hangard.core.desired import DesiredState, Location


def pairs(s: DesiredState) -> list[tuple[Location, str]]:
    """``check_references`` as (where, message) pairs, second places dotted."""
    return [(f.where, f.text()) for f in check_references(s)]


D1 = "sha256:" + "1" * 64

TARGETS: dict[str, Any] = {
    "mirror": {"registry": "mirror.example.com", "prefix": "hub"},
    "flat": {"registry": "flat.example.com", "mapping": "flatten"},
}


def state(
    images: list[dict[str, Any]],
    *,
    targets: dict[str, Any] | None = None,
    defaults: dict[str, Any] | None = None,
    registries: dict[str, Any] | None = None,
) -> DesiredState:
    return DesiredState.model_validate(
        {
            "defaults": {"targets": ["mirror"]} if defaults is None else defaults,
            "targets": TARGETS if targets is None else targets,
            "registries": registries or {},
            "images": images,
        }
    )


def listed(*lines: tuple[int, str, str], **extra: Any) -> dict[str, Any]:
    """A list entry as the loader leaves it: (line number, source, tag) each."""
    return {
        "list": "images.txt",
        "lines": [{"line": n, "source": src, "tag": tag} for n, src, tag in lines],
        **extra,
    }


@pytest.mark.parametrize(
    "s",
    [
        pytest.param(state([]), id="no-images"),
        pytest.param(state([{"source": "nginx", "tags": ["1", "2"]}]), id="explicit-tags"),
        pytest.param(
            state([{"source": "nginx", "tags": ["1"], "targets": ["mirror", "flat"]}]),
            id="one-tag-two-targets",
        ),
        pytest.param(
            state([{"source": "nginx", "tags": ["1"]}, {"source": "nginx", "tags": ["2"]}]),
            id="same-image-other-tags",
        ),
        pytest.param(
            state(
                [
                    {"source": "nginx", "tags": ["1"]},
                    {"source": "nginx", "tags": ["1"], "targets": ["flat"]},
                ]
            ),
            id="same-tag-other-target",
        ),
        pytest.param(
            state(
                [
                    {"source": "alpine", "tags": {"latest": 2}},
                    {"source": "alpine", "tags": {"include": ["^3"]}},
                ]
            ),
            id="patterns-are-not-expanded-here",
        ),
        pytest.param(
            state(
                [
                    {"source": "nginx", "tags": ["1"]},
                    listed((1, "redis:7", "7"), (2, "nginx:2", "2")),
                ]
            ),
            id="list-and-image-entries",
        ),
        pytest.param(
            state(
                [{"source": "a/nginx", "tags": ["1"]}, {"source": "b/nginx", "tags": ["1"]}],
            ),
            id="keep-mapping-keeps-paths-apart",
        ),
        pytest.param(
            state([{"source": "nginx", "tags": ["1", "2", "1"]}]),
            id="tag-twice-in-one-entry-is-a-harmless-repeat",
        ),
        pytest.param(
            state(
                [
                    {"source": "nginx", "tags": ["1"]},
                    {"source": "nginx", "tags": ["1"], "destination": "elsewhere/nginx"},
                ]
            ),
            id="same-item-two-destinations",
        ),
        pytest.param(
            state([{"source": "nginx", "tags": ["1"]}, listed((7, "docker.io/nginx:1", "1"))]),
            id="list-line-repeats-an-image-entry",
        ),
        pytest.param(
            state([listed((1, "redis:7", "7"), (9, "index.docker.io/library/redis:7", "7"))]),
            id="list-line-twice",
        ),
        pytest.param(
            state(
                [{"source": "nginx", "tags": ["1"]}],
                registries={"docker.io": {}, "quay.io": {}, "localhost:5000": {}},
            ),
            id="distinct-registries",
        ),
        pytest.param(
            state([{"source": "nginx", "tags": ["1"], "targets": ["flat"]}], defaults={}),
            id="targets-only-on-the-entry",
        ),
    ],
)
def test_good_states_have_no_problems(s: DesiredState) -> None:
    assert check_references(s) == []


NO_TARGETS = "no targets: set 'targets' here or in 'defaults'"


@pytest.mark.parametrize(
    ("s", "problems"),
    [
        pytest.param(
            state([], registries={"docker.io": {}, "index.docker.io": {}, "quay.io": {}}),
            [
                (
                    ("registries", "index.docker.io"),
                    "registry 'index.docker.io' is the same host as 'docker.io'",
                )
            ],
            id="hub-alias-twice",
        ),
        pytest.param(
            state([], defaults={"targets": ["mirorr"]}),
            [
                (
                    ("defaults", "targets", 0),
                    "unknown target 'mirorr' (known: flat, mirror); did you mean 'mirror'?",
                )
            ],
            id="unknown-default-target-with-hint",
        ),
        pytest.param(
            state([{"source": "nginx", "tags": ["1"], "targets": ["mirror", "zzz"]}]),
            [(("images", 0, "targets", 1), "unknown target 'zzz' (known: flat, mirror)")],
            id="unknown-entry-target-without-hint",
        ),
        pytest.param(
            state([{"source": "nginx", "tags": ["1"]}], targets={}),
            [
                (("defaults", "targets", 0), "unknown target 'mirror' (known: none)"),
            ],
            id="no-targets-defined",
        ),
        pytest.param(
            state([{"source": "nginx", "tags": ["1"]}], defaults={}),
            [(("images", 0), NO_TARGETS)],
            id="no-targets-anywhere",
        ),
        pytest.param(
            state([{"source": "nginx", "tags": ["1"], "targets": []}]),
            [(("images", 0), NO_TARGETS)],
            id="empty-entry-targets-override-defaults",
        ),
        pytest.param(
            state([listed((4, "nginx:1", "1"))], defaults={}),
            [(("images", 0), NO_TARGETS)],
            id="list-without-targets",
        ),
        pytest.param(
            state([{"source": "nginx", "tags": ["1", f"1@{D1}"]}]),
            [
                (
                    ("images", 0, "tags", 0),
                    "duplicate output mirror.example.com/hub/library/nginx:1: "
                    "also produced at images.0.tags.1",
                ),
                (
                    ("images", 0, "tags", 1),
                    "duplicate output mirror.example.com/hub/library/nginx:1: "
                    "also produced at images.0.tags.0",
                ),
            ],
            id="pinned-and-unpinned-tag",
        ),
        pytest.param(
            state(
                [
                    {"source": "a/nginx", "tags": ["1"], "targets": ["flat"]},
                    {"source": "quay.io/b/nginx", "tags": ["1"], "targets": ["flat"]},
                ]
            ),
            [
                (
                    ("images", 0, "tags", 0),
                    "duplicate output flat.example.com/nginx:1: also produced at images.1.tags.0",
                ),
                (
                    ("images", 1, "tags", 0),
                    "duplicate output flat.example.com/nginx:1: also produced at images.0.tags.0",
                ),
            ],
            id="flatten-collision",
        ),
        pytest.param(
            state(
                [
                    {"source": "nginx", "tags": ["1"], "destination": "web"},
                    {"source": "httpd", "tags": ["1"], "destination": "web"},
                ]
            ),
            [
                (
                    ("images", 0, "tags", 0),
                    "duplicate output mirror.example.com/web:1: also produced at images.1.tags.0",
                ),
                (
                    ("images", 1, "tags", 0),
                    "duplicate output mirror.example.com/web:1: also produced at images.0.tags.0",
                ),
            ],
            id="destination-collision",
        ),
    ],
)
def test_bad_states(s: DesiredState, problems: list[tuple[Location, str]]) -> None:
    assert pairs(s) == problems


def test_problems_come_in_document_order() -> None:
    s = state(
        [
            {"source": "nginx", "tags": ["1", "1"], "targets": ["nope"]},
            {"source": "redis", "tags": ["7"], "targets": []},
        ],
        registries={"docker.io": {}, "registry-1.docker.io": {}},
        defaults={"targets": ["mirror", "gone"]},
    )
    assert [loc for loc, _ in pairs(s)] == [
        ("registries", "registry-1.docker.io"),
        ("defaults", "targets", 1),
        ("images", 0, "targets", 0),
        ("images", 1),
    ]


def test_each_clash_is_reported_against_the_first_and_the_first_against_the_second() -> None:
    d2 = "sha256:" + "2" * 64
    s = state([{"source": "nginx", "tags": ["1", f"1@{D1}", f"1@{d2}"]}])
    problems = pairs(s)
    assert [loc for loc, _ in problems] == [
        ("images", 0, "tags", 0),
        ("images", 0, "tags", 1),
        ("images", 0, "tags", 2),
    ]
    assert problems[0][1].endswith("also produced at images.0.tags.1")
    assert all(msg.endswith("also produced at images.0.tags.0") for _, msg in problems[1:])


def test_a_repeat_of_the_first_source_is_harmless_beside_a_clash() -> None:
    s = state([{"source": "nginx", "tags": ["1", "1", f"1@{D1}"]}])
    assert [loc for loc, _ in pairs(s)] == [("images", 0, "tags", 0), ("images", 0, "tags", 2)]


def test_check_references_does_not_change_the_state() -> None:
    s = state([{"source": "nginx", "tags": ["1", "1"]}], registries={"docker.io": {}})
    before = s.model_dump()
    check_references(s)
    assert s.model_dump() == before
