"""What save puts in an archive and where load pushes it
(hangard.archive.sources, .destinations, .sizes): pure, table-driven."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from hangard.archive import (
    LoadItem,
    SaveItem,
    destination_for,
    from_desired,
    from_lines,
    from_references,
    parse_size,
    parse_to,
    select,
)
from hangard.config.hangarlist import parse_hangar_list
from hangard.core.desired import DesiredState, Target
from hangard.core.platform import parse_platform
from hangard.core.reference import Repository, parse_reference
from hangard.errors import HangardError, InputError, NotFoundError

DIGEST = "sha256:" + "ab" * 32
AMD64 = parse_platform("linux/amd64")


def names(items: Sequence[SaveItem | LoadItem]) -> list[str]:
    return [str(i.name) for i in items]


def test_references_keep_their_source_name_and_tag() -> None:
    refs = [parse_reference(t) for t in ("nginx", "quay.io/a/b:1", f"quay.io/a/c@{DIGEST}")]
    items = from_references([*refs, refs[0]], [AMD64])
    assert names(items) == [
        "docker.io/library/nginx:latest",
        "quay.io/a/b:1",
        f"quay.io/a/c:sha256-{'ab' * 32}",
    ]
    assert items[2].source.digest == DIGEST
    assert all(i.platforms == (AMD64,) for i in items)


def test_list_lines_ignore_dest_and_keep_pins() -> None:
    parsed = parse_hangar_list(f"nginx:1.27\nquay.io/a/b mirror/b 2@{DIGEST}\n", "l.txt")
    items = from_lines(parsed.lines)
    assert names(items) == ["docker.io/library/nginx:1.27", "quay.io/a/b:2"]
    assert str(items[1].source) == f"quay.io/a/b:2@{DIGEST}"


def _state() -> DesiredState:
    return DesiredState.model_validate(
        {
            "defaults": {"targets": ["a", "b"], "platforms": ["linux/amd64"]},
            "targets": {
                "a": {"registry": "reg.a:5000"},
                "b": {"registry": "reg.b:5000", "mapping": "flatten"},
            },
            "images": [
                {"source": "quay.io/org/app", "tags": {"semver": ">=1.1"}},
                {"source": "quay.io/org/db", "tags": ["9"], "platforms": []},
                {"source": "quay.io/org/gone", "tags": {"latest": 1}},
            ],
        }
    )


def test_desired_state_uses_the_planners_tag_rules_once_per_tag() -> None:
    tags: dict[Repository, list[str] | HangardError] = {
        Repository("quay.io", "org/app"): ["1.0", "1.1", "1.2", "latest"],
        Repository("quay.io", "org/gone"): NotFoundError("no such repository"),
    }
    items, problems = from_desired(_state(), tags)
    assert names(items) == ["quay.io/org/app:1.1", "quay.io/org/app:1.2", "quay.io/org/db:9"]
    assert [i.platforms for i in items] == [(AMD64,), (AMD64,), ()]
    assert [p.image for p in problems] == ["quay.io/org/gone"]  # once, not per target


@pytest.mark.parametrize(
    ("to", "project", "rename", "expected"),
    [
        ("reg:5000", None, None, "reg:5000/library/nginx:1.27"),
        ("reg:5000/mirror/", None, None, "reg:5000/mirror/library/nginx:1.27"),
        ("reg:5000", "web", None, "reg:5000/web/nginx:1.27"),
        ("reg:5000/m", "web", None, "reg:5000/m/web/nginx:1.27"),
        ("reg:5000/m", None, "edge/nginx", "reg:5000/edge/nginx:1.27"),
    ],
)
def test_load_destinations(to: str, project: str | None, rename: str | None, expected: str) -> None:
    name = parse_reference("docker.io/library/nginx:1.27")
    assert str(destination_for(name, parse_to(to), project=project, rename=rename)) == expected


def test_project_on_a_one_segment_path_and_a_flatten_target() -> None:
    target = Target(registry="reg:5000", prefix="p", mapping="flatten")
    name = parse_reference("localhost:5000/app:1")
    assert str(destination_for(name, target)) == "reg:5000/p/app:1"
    assert str(destination_for(name, parse_to("reg:5000"), project="x")) == "reg:5000/x/app:1"


@pytest.mark.parametrize("text", ["https://reg:5000", "not a host", "reg:5000/UPPER", ""])
def test_bad_to_is_one_clear_error(text: str) -> None:
    with pytest.raises(InputError, match="--to"):
        parse_to(text)


def test_select_by_list_reports_what_the_archive_lacks() -> None:
    held = [parse_reference(t) for t in ("nginx:1.27", "quay.io/a/b:2")]
    lines = parse_hangar_list("quay.io/a/b edge/b 2\nnginx:1.28\n", "l.txt").lines
    chosen, missing = select(held, parse_to("reg:5000"), lines=lines)
    assert [(str(c.name), str(c.destination)) for c in chosen] == [
        ("quay.io/a/b:2", "reg:5000/edge/b:2")
    ]
    assert [m.line for m in missing] == [2]
    everything, none = select(held, parse_to("reg:5000"))
    assert len(everything) == 2 and none == []


@pytest.mark.parametrize(
    ("text", "size"),
    [("4GiB", 4 << 30), ("700MB", 700_000_000), ("1.5mib", 3 << 19), ("65536", 65536)],
)
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["4 parsecs", "", "-1GiB", "1KiB"])
def test_bad_sizes(text: str) -> None:
    with pytest.raises(InputError, match="--part-size"):
        parse_size(text)
