"""The pure prune decisions (:mod:`hangard.core.prune`) and the ownership
store (:mod:`hangard.sync.ownership`): table-driven."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from hangard.config import check_config
from hangard.core.desired import DesiredState
from hangard.core.plan import ExpansionProblem, Plan
from hangard.core.prune import (
    ATTACHMENT_CAUSE,
    Deletion,
    Owned,
    attachment_subject,
    image_rows,
    orphans_possible,
    prune_cap,
    prune_refusal,
    prune_scope,
    select_deletions,
)
from hangard.core.shard import Shard, owner
from hangard.errors import OperationError, PruneRefusedError, Reason
from hangard.sync.ownership import MIGRATIONS, SCHEMA_VERSION, OwnershipStore

D1, D2, D3 = (f"sha256:{c * 64}" for c in "123")
REPO = "reg.example:5000/mirror/app"


def owned(tag: str, digest: str = D1, *images: str) -> Owned:
    return Owned("m", REPO, tag, digest, attached_to=frozenset(images))


def sig(digest: str, suffix: str = ".sig") -> str:
    return digest.replace(":", "-") + suffix


@pytest.mark.parametrize(
    ("tag", "subject"),
    [
        (sig(D1), D1),
        (sig(D1, ".att"), D1),
        (sig(D1, ".sbom"), D1),
        (sig(D1, ""), D1),  # the referrers fallback tag
        (sig(D1, ".foo"), None),
        ("sha256-abc.sig", None),
        ("v1.sig", None),
        ("latest", None),
    ],
)
def test_attachment_subject(tag: str, subject: str | None) -> None:
    assert attachment_subject(tag) == subject


@pytest.mark.parametrize(
    ("rows", "selected", "current", "kept", "delete", "forget"),
    [
        # selected tags stay; an owned tag the selection dropped goes
        ([owned("1"), owned("2", D2)], {"2"}, {"1", "2"}, set(), ["1"], []),
        # nothing dropped
        ([owned("1")], {"1"}, {"1"}, set(), [], []),
        # gone from the target already: forgotten, not deleted
        ([owned("1"), owned("2", D2)], {"2"}, {"2"}, set(), [], ["1"]),
        # a tag hangard did not write is never a candidate (not in rows)
        ([owned("2", D2)], {"2"}, {"1", "2", "theirs"}, set(), [], []),
        # an attachment of a kept image stays, even owned and unselected
        ([owned("1"), owned(sig(D1), D3)], {"1"}, {"1", sig(D1)}, {D1}, [], []),
        # ... and goes with its image
        ([owned("1"), owned(sig(D1), D3)], set(), {"1", sig(D1)}, set(), ["1", sig(D1)], []),
        # ... unless another kept tag points at the image
        ([owned("1"), owned(sig(D1), D3)], set(), {"1", sig(D1)}, {D1}, ["1"], []),
        # an attachment whose image is not ours is left alone
        ([owned(sig(D2), D3)], set(), {sig(D2)}, set(), [], []),
        # a child's signature goes with the index it was copied with
        ([owned("1"), owned(sig(D2), D3, D1)], set(), {"1", sig(D2)}, set(), ["1", sig(D2)], []),
        # ... and stays while that index is kept under another tag
        (
            [owned("1"), owned("2"), owned(sig(D2), D3, D1)],
            {"2"},
            {"1", "2", sig(D2)},
            set(),
            ["1"],
            [],
        ),
        # ... or while its subject is kept on its own
        ([owned("1"), owned(sig(D2), D3, D1)], set(), {"1", sig(D2)}, {D2}, ["1"], []),
        # the image tag is gone already: its attachment still goes, the row is forgotten
        ([owned("1"), owned(sig(D1), D3)], set(), {sig(D1)}, set(), [sig(D1)], ["1"]),
        # an attachment of an image that stays selected is never a candidate
        ([owned("1", D2), owned(sig(D1), D3)], {"1"}, {"1", sig(D1)}, set(), [], []),
    ],
)
def test_select_deletions(
    rows: list[Owned],
    selected: set[str],
    current: set[str],
    kept: set[str],
    delete: list[str],
    forget: list[str],
) -> None:
    going, gone = select_deletions(rows, selected, current, kept)
    assert sorted(d.owned.tag for d in going) == sorted(delete)
    assert [o.tag for o in gone] == forget
    images = [d for d in going if not d.attachment]
    attachments = [d for d in going if d.attachment]
    assert going == images + attachments  # images first: attachments wait for them
    assert all(d.cause == "no longer selected" and not d.of for d in images)
    for d in attachments:
        assert d.cause == ATTACHMENT_CAUSE and d.of
        assert all(o.subject is None and o.tag not in selected for o in d.of)


def test_only_an_image_tag_leaving_the_selection_can_delete_anything() -> None:
    """The steady state (every owned image tag selected) needs no request,
    however many attachment tags hangard owns there; the cap counts image
    tags only."""
    rows = [owned("1"), owned(sig(D1), D3), owned(sig(D1, ".att"), D3)]
    assert not orphans_possible(rows, {"1"})
    assert orphans_possible(rows, set())
    assert image_rows(rows) == [owned("1")]


def test_the_store_links_attachments_to_their_images_and_forgets_both(tmp_path: Path) -> None:
    store = OwnershipStore.open(tmp_path / "o.db")
    store.record("m", REPO, "1", D1)
    store.record_attachment("m", REPO, sig(D2), D3, D1)
    store.record_attachment("m", REPO, sig(D2), D3, D2)  # copied with two images
    store.close()
    store = OwnershipStore.open(tmp_path / "o.db")
    rows = {o.tag: o for o in store.owned("m")}
    assert rows["1"].attached_to == frozenset()
    assert rows[sig(D2)].attached_to == {D1, D2} and rows[sig(D2)].digest == D3
    store.forget([rows[sig(D2)]])
    store.record("m", REPO, sig(D2), D3)  # written again, as an image tag would be
    assert [o.attached_to for o in store.owned("m")] == [frozenset(), frozenset()]
    store.close()


@pytest.mark.parametrize(
    ("managed", "prune_max", "cap"),
    [
        (0, None, 20),
        (100, None, 20),
        (209, None, 20),
        (210, None, 21),
        (1000, None, 100),
        (1000, 5, 5),
        (10, 0, 0),
    ],
)
def test_prune_cap(managed: int, prune_max: int | None, cap: int) -> None:
    assert prune_cap(managed, prune_max) == cap


def test_the_refusal_says_how_many_the_cap_and_the_remedy() -> None:
    assert prune_refusal("m", 20, 50, None) is None
    error = prune_refusal("m", 21, 50, None)
    assert isinstance(error, PruneRefusedError) and error.reason is Reason.PRUNE_REFUSED
    assert "21 tags would be deleted" in error.message and "of 20" in error.message
    assert "nothing was deleted" in error.message
    assert error.remedy is not None
    assert "targets.m.prune_max to 21" in error.remedy and "--no-prune" in error.remedy
    assert "prune_max of 3" in str(prune_refusal("m", 4, 50, 3))


def state(**kw: Any) -> DesiredState:
    doc: dict[str, Any] = {
        "targets": {
            "m": {"registry": "reg.example:5000", "prefix": "mirror", "prune": True},
            "keep": {"registry": "other.example:5000"},
            "zip": {"archive": "out.zip"},
        },
        "defaults": {"targets": ["m", "keep", "zip"]},
        "images": [
            {"source": "src.example/lib/a", "tags": {"include": ["1.*"]}},
            {"source": "src.example/lib/b", "tags": ["1"], "prune": False},
            {"source": "src.example/lib/c", "tags": ["1"], "schedule": "24h"},
            {"source": "src.example/lib/d", "tags": ["1"], "targets": ["keep"], "prune": True},
        ],
    }
    doc.update(kw)
    return DesiredState.model_validate(doc)


def test_prune_scope_follows_targets_entries_schedules_and_listings() -> None:
    scope = prune_scope(state())
    assert scope.decides("m", "reg.example:5000/mirror/lib/a")
    assert not scope.decides("m", "reg.example:5000/mirror/lib/b")  # the entry opts out
    assert scope.decides("m", "reg.example:5000/mirror/lib/c")
    assert scope.decides("m", "reg.example:5000/mirror/gone")  # no entry: the target's prune
    assert not scope.decides("keep", "other.example:5000/lib/a")  # the target does not prune
    assert scope.decides("keep", "other.example:5000/lib/d")  # the entry opts in
    assert not scope.decides("keep", "other.example:5000/gone")
    assert "zip" not in scope.targets  # archives are never pruned

    # a failed tag listing decides nothing where that entry writes
    problem = ExpansionProblem("src.example/lib/a", "m", OperationError("down"))
    assert not prune_scope(state(), [problem]).decides("m", "reg.example:5000/mirror/lib/a")
    # a cycle of some schedules decides their entries only (and what no entry writes)
    partial = prune_scope(state(), only=frozenset({"24h"}))
    assert partial.decides("m", "reg.example:5000/mirror/lib/c")
    assert not partial.decides("m", "reg.example:5000/mirror/lib/a")
    assert partial.decides("m", "reg.example:5000/mirror/gone")
    # a repository another target writes without prune is not decided either
    shared = state(
        targets={
            "m": {"registry": "reg.example:5000", "prefix": "mirror", "prune": True},
            "twin": {"registry": "reg.example:5000", "prefix": "mirror"},
        },
        defaults={"targets": ["m"]},
        images=[
            {"source": "src.example/lib/a", "tags": ["1"]},
            {"source": "src.example/lib/c", "tags": ["1"], "targets": ["twin"]},
            {"source": "src.example/lib/c", "tags": ["2"]},
        ],
    )
    scope = prune_scope(shared)
    assert scope.decides("m", "reg.example:5000/mirror/lib/a")
    assert not scope.decides("m", "reg.example:5000/mirror/lib/c")


def test_a_plan_shows_deletions_and_notes() -> None:
    plan = Plan(deletions=(Deletion(owned("1")),), notes=("prune: something",))
    text = plan.render().splitlines()
    assert text[0] == f"{REPO}:1  [m]  delete (no longer selected) sha256:111111111111"
    assert text[1] == "note: prune: something"
    assert text[-1].endswith(", 0 errors, 1 to delete")
    assert plan.summary["delete"] == 1 and plan.status == 2


# ------------------------------------------------------------- the store
def test_the_store_is_versioned_in_wal_mode_and_keeps_rows_across_opens(tmp_path: Path) -> None:
    path = tmp_path / "ownership.db"
    store = OwnershipStore.open(path)
    assert store.schema_version == SCHEMA_VERSION == 2
    store.record("m", REPO, "1", D1)
    store.record("m", REPO, "1", D2)  # written again: the newest digest
    store.record("m", REPO, "2", D1)
    store.record("other", REPO, "1", D1)
    store.close()
    reopened = OwnershipStore.open(path)
    assert [(o.tag, o.digest) for o in reopened.owned("m")] == [("1", D2), ("2", D1)]
    assert reopened.count("m") == 2 and reopened.count("nobody") == 0
    reopened.forget([Owned("m", REPO, "1", D2)])
    assert [o.tag for o in reopened.owned("m")] == ["2"]
    reopened.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert raw.execute("PRAGMA user_version").fetchone() == (2,)


def test_a_version_1_store_is_migrated_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "ownership.db"
    with sqlite3.connect(path) as raw:  # what hangard wrote before attachments were owned
        raw.executescript(MIGRATIONS[0])
        raw.execute("INSERT INTO owned VALUES ('m', ?, '1', ?, 0)", (REPO, D1))
        raw.execute("PRAGMA user_version = 1")
    raw.close()
    store = OwnershipStore.open(path)
    assert store.schema_version == 2
    assert [(o.tag, o.digest, o.attached_to) for o in store.owned("m")] == [("1", D1, frozenset())]
    store.record_attachment("m", REPO, sig(D1), D3, D1)
    assert store.owned("m")[1].attached_to == {D1}
    store.close()


def test_a_store_from_a_newer_hangard_is_refused_clearly(tmp_path: Path) -> None:
    path = tmp_path / "ownership.db"
    OwnershipStore.open(path).close()
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version = 7")
    with pytest.raises(OperationError, match="schema version 7; this hangard knows up to 2"):
        OwnershipStore.open(path)


def test_a_damaged_store_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "ownership.db"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(OperationError, match="cannot use the ownership store") as caught:
        OwnershipStore.open(path)
    assert caught.value.remedy is not None and "nothing is pruned" in caught.value.remedy


def test_prune_on_an_archive_target_is_a_config_error_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "h.yaml"
    path.write_text(
        "targets:\n  zip:\n    archive: out.zip\n    prune: true\n"
        "images:\n  - source: src.example/lib/a\n    tags: ['1']\n    targets: [zip]\n"
    )
    _, problems = check_config(path)
    texts = [str(p) for p in problems if p.is_error]
    assert texts == [f"{path}:4:12: prune applies to registry targets, not to an archive"]


def test_a_shard_decides_only_the_repositories_it_writes() -> None:
    repo = "reg.example:5000/mirror/lib/a"
    deciding = [i for i in range(2) if prune_scope(state(), shard=Shard(i, 2)).decides("m", repo)]
    assert deciding == [owner("src.example/lib/a", "m", 2)]
