"""Shards (hangard.core.shard): rendezvous hashing of (repository, target)
over N instances, ``I/N`` and StatefulSet ordinals."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hangard.core.shard import Shard, mine, owner, parse_shard, shard_from_hostname, spread

REPOS = [f"registry.example.com/team{i % 17}/app{i}" for i in range(1500)]
PAIRS = [(repo, target) for repo in REPOS for target in ("mirror", "dr")]


@given(
    repo=st.text(min_size=1, max_size=40),
    target=st.text(min_size=1, max_size=10),
    count=st.integers(1, 12),
)
@settings(max_examples=200, deadline=None)
def test_exactly_one_shard_owns_each_pair(repo: str, target: str, count: int) -> None:
    owners = [i for i in range(count) if Shard(i, count).owns(repo, target)]
    assert owners == [owner(repo, target, count)]


@pytest.mark.parametrize("count", [2, 3, 4, 8])
def test_going_from_n_to_n_plus_one_moves_about_one_in_n_plus_one(count: int) -> None:
    before = {pair: owner(*pair, count) for pair in PAIRS}
    after = {pair: owner(*pair, count + 1) for pair in PAIRS}
    moved = [pair for pair in PAIRS if before[pair] != after[pair]]
    # rendezvous: a pair moves only to the new shard, never between old ones
    assert {after[pair] for pair in moved} == {count}
    share = len(moved) / len(PAIRS)
    assert abs(share - 1 / (count + 1)) < 0.04, share


@pytest.mark.parametrize("count", [2, 3, 5])
def test_the_spread_is_even(count: int) -> None:
    counts = spread(PAIRS, count)
    assert sorted(counts) == list(range(count)) and sum(counts.values()) == len(PAIRS)
    assert max(counts.values()) / (len(PAIRS) / count) < 1.1


def test_spread_lists_empty_shards() -> None:
    assert spread([("r", "t")], 3)[owner("r", "t", 3)] == 1
    assert sum(spread([("r", "t")], 3).values()) == 1 and len(spread([], 3)) == 3


def test_the_owner_is_the_same_in_every_process() -> None:
    # keyed BLAKE2b, not the per-process salted hash(): other processes with
    # other hash seeds agree with this one
    code = (
        "from hangard.core.shard import owner;"
        "print([owner(f'docker.io/library/app{i}', 'mirror', 5) for i in range(40)])"
    )
    here = str([owner(f"docker.io/library/app{i}", "mirror", 5) for i in range(40)])
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        assert out.stdout.strip() == here
    assert len(set(eval(here))) == 5


@dataclass(frozen=True)
class Thing:
    image: str
    target: str


def test_mine_keeps_what_the_shard_owns() -> None:
    things = [Thing(repo, target) for repo, target in PAIRS[:300]]
    kept = [mine(Shard(i, 3), things) for i in range(3)]
    assert sorted(id(t) for part in kept for t in part) == sorted(map(id, things))
    assert mine(None, things) == things == mine(Shard(0, 1), things)


@pytest.mark.parametrize(
    ("text", "shard"), [("0/3", Shard(0, 3)), (" 2 / 3 ", Shard(2, 3)), ("0/1", Shard(0, 1))]
)
def test_parse_shard(text: str, shard: Shard) -> None:
    assert parse_shard(text) == shard and str(shard) == text.replace(" ", "")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3/3", "shard 3 does not exist in 3 shard(s): use 0 to 2"),
        ("0/0", "the shard count must be 1 to 1024, not 0"),
        ("1", "'1' is not a shard: write I/N, like 0/3"),
        ("-1/3", "is not a shard"),
        ("a/b", "is not a shard"),
    ],
)
def test_bad_shards_say_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_shard(text)


@pytest.mark.parametrize(
    ("hostname", "index"),
    [("hangard-0", 0), ("hangard-2", 2), ("mirror-hangard-11.hangard.ns.svc", 11)],
)
def test_statefulset_ordinals(hostname: str, index: int) -> None:
    assert shard_from_hostname(hostname, 12) == Shard(index, 12)


def test_a_hostname_without_an_ordinal_says_what_to_set() -> None:
    with pytest.raises(ValueError, match="set HANGARD_SHARD=I/N instead"):
        shard_from_hostname("mirrorhost", 3)
    with pytest.raises(ValueError, match="shard 3 does not exist in 3"):
        shard_from_hostname("hangard-3", 3)
