"""The re-check budget's pure part (which attachments a cycle asks again)
and its memory as the state dir keeps it."""

from __future__ import annotations

import json
import math
from pathlib import Path

from hangard.core.rechecks import AttachmentMemory, choose_rechecks
from hangard.sync.digestcache import DigestCache

D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def test_choose_rechecks_least_recently_checked_first_within_budget() -> None:
    candidates = {("r", "c"): 3, ("r", "a"): 1, ("r", "b"): 1, ("s", "a"): 2}
    assert choose_rechecks(candidates, 2) == {("r", "a"), ("r", "b")}
    assert choose_rechecks(candidates, 3) == {("r", "a"), ("r", "b"), ("s", "a")}
    assert choose_rechecks(candidates, 0) == frozenset()
    assert choose_rechecks(candidates, 10) == set(candidates)


def test_round_robin_checks_each_within_ceil_n_over_budget_cycles() -> None:
    """Cycle after cycle, the chosen ones are checked (their cycle moves to
    now): every one of 7 is checked within ceil(7 / 3) = 3 cycles, again
    and again."""
    memory = AttachmentMemory()
    tags = [f"sha256-{n}.sig" for n in range(7)]
    for tag in tags:
        memory.saw_tag("r", tag, D1)
    last_seen = {tag: 0 for tag in tags}
    for _ in range(12):
        memory.next_cycle()
        candidates = {("r", t): memory.last_checked(("r", t)) or 0 for t in tags}
        chosen = choose_rechecks(candidates, 3)
        assert len(chosen) == 3
        for _, tag in chosen:
            memory.saw_tag("r", tag, D1)
            last_seen[tag] = memory.cycle
        assert all(memory.cycle - seen < math.ceil(7 / 3) for seen in last_seen.values())


def test_memory_forgets_what_is_gone() -> None:
    memory = AttachmentMemory()
    memory.saw_tag("r", "sha256-a.sig", D1)
    memory.saw_tag("r", "sha256-b.sig", D1)
    memory.keep_listed("r", ["v1", "sha256-b.sig"])
    assert memory.tag("r", "sha256-a.sig") is None
    assert memory.tag("r", "sha256-b.sig") == D1
    memory.saw_tag("r", "sha256-b.sig", None)  # a HEAD found it gone
    assert memory.tag("r", "sha256-b.sig") is None
    assert memory.last_checked(("r", D1)) is None


def _saved_memory(path: Path) -> None:
    """A cache whose memory saw one signature tag and one referrer, saved."""
    cache = DigestCache.load(path)
    cache.memory.next_cycle()
    cache.memory.saw_tag("h/r", "sha256-a.sig", D1)
    cache.memory.saw_referrers("h/r", D1, [(D2, "application/x-sbom")])
    cache.save()


def test_digest_cache_keeps_the_memory_compactly(tmp_path: Path) -> None:
    path = tmp_path / "subset-cache.json"
    _saved_memory(path)
    doc = json.loads(path.read_text())
    assert doc["checked"]["tags"] == {"h/r": {"sha256-a.sig": [D1, 1]}}

    again = DigestCache.load(path)
    assert again.memory.cycle == 1
    assert again.memory.tag("h/r", "sha256-a.sig") == D1
    assert again.memory.subject("h/r", D1) == ((D2, "application/x-sbom"),)
    assert again.memory.last_checked(("h/r", D1)) == 1
    assert not again.memory.changed


def test_a_damaged_memory_is_forgotten_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "subset-cache.json"
    for checked in (
        "nonsense",
        {"cycle": "x"},
        {"cycle": 4, "tags": {"h/r": {"sha256-a.sig": ["not a digest", 1], "t": 3}}},
        {"cycle": 4, "tags": [], "referrers": {"h/r": {D1: [[["only one"]], 2]}}},
    ):
        path.write_text(json.dumps({"version": 1, "checked": checked}))
        memory = DigestCache.load(path).memory
        assert memory.tag("h/r", "sha256-a.sig") is None
        assert memory.subject("h/r", D1) is None


def test_a_cycle_that_checks_nothing_new_leaves_the_saved_memory_alone(tmp_path: Path) -> None:
    """Counting a cycle, or seeing again in it what it already stamped, is
    no change: ``subset-cache.json`` is not rewritten (same inode and
    mtime); a re-check in a later cycle is, and saves the count with it."""
    path = tmp_path / "subset-cache.json"
    _saved_memory(path)
    before = path.stat()

    again = DigestCache.load(path)
    again.memory.next_cycle()
    again.memory.keep_listed("h/r", ["sha256-a.sig"])
    assert not again.memory.changed
    again.save()
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert DigestCache.load(path).memory.cycle == 1

    again.memory.saw_tag("h/r", "sha256-a.sig", D1)  # re-checked in cycle 2
    again.memory.saw_tag("h/r", "sha256-a.sig", D1)
    again.memory.saw_referrers("h/r", D1, [(D2, "application/x-sbom")])
    assert again.memory.changed
    again.save()
    saved = DigestCache.load(path).memory
    assert saved.cycle == 2
    assert saved.last_checked(("h/r", "sha256-a.sig")) == 2
    assert saved.last_checked(("h/r", D1)) == 2


def test_seeing_the_same_again_in_one_cycle_is_no_change() -> None:
    memory = AttachmentMemory()
    memory.next_cycle()
    memory.saw_tag("r", "sha256-a.sig", D1)
    memory.saw_referrers("r", D1, [(D2, "t")])
    memory.changed = False
    memory.saw_tag("r", "sha256-a.sig", D1)
    memory.saw_referrers("r", D1, [(D2, "t")])
    memory.saw_tag("r", "sha256-gone.sig", None)
    assert not memory.changed
    memory.saw_tag("r", "sha256-a.sig", D2)  # re-signed
    assert memory.changed
