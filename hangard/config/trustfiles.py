"""Read the files the signature policy names: the ``policy:`` file (a
containers ``policy.json``, or ``--policy``), the key files its
``keyPath``/``keyPaths`` name (relative: to the policy file), and every
``verify.keys`` file (relative: to the config file).

A file that cannot be read or parsed is a problem at the config key that
names it (``FILE:LINE:COL``), with the remedy. With ``--insecure-policy``
none of them is read: the policy is off. The model is
:mod:`hangard.core.policy`; this module only does the I/O around it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hangard.config.report import Report
from hangard.core.desired import DesiredState, Location
from hangard.core.policy import Policy, Trust, parse_policy, policy_key_paths
from hangard.core.signature import VerifyKey, load_public_key
from hangard.errors import ConfigError, InputError

__all__ = [
    "MAX_TRUST_FILE_SIZE",
    "POLICY_REMEDY",
    "TrustOptions",
    "load_policy_option",
    "read_policy_file",
    "read_trust",
    "resolve_trust_paths",
]

#: A policy or key file is a few KiB; a bigger one is a mistake.
MAX_TRUST_FILE_SIZE = 1 << 20
POLICY_REMEDY = (
    "create the file, fix the path, or pass --insecure-policy to copy without signature checks"
)
KEY_REMEDY = "fix the path, or copy the public key (cosign.pub) there"

FileSeen = Callable[[Path, bytes], None]


@dataclass(frozen=True)
class TrustOptions:
    """The command line's say: ``--policy FILE`` (replacing the config's
    ``policy:``) and ``--insecure-policy`` (no checks at all)."""

    policy: Path | None = None
    insecure: bool = False


def resolve_trust_paths(
    data: dict[Any, Any], resolve: Callable[[str], Path], report: Report
) -> dict[Any, Any]:
    """``data`` with ``policy`` and every ``verify.keys`` path made absolute
    (and no ``trust`` key: the loader fills that in)."""
    if "trust" in data:
        report.handled.add(("trust",))
        report.add(report.doc.key_position(("trust",)), "unknown key 'trust'")
        del data["trust"]
    if isinstance(data.get("policy"), str) and data["policy"]:
        data["policy"] = str(resolve(data["policy"]))
    places = [data.get("defaults")]
    if isinstance(data.get("images"), list):
        places += data["images"]
    for place in places:
        if not isinstance(place, dict) or not isinstance(place.get("verify"), dict):
            continue
        verify = place["verify"]
        if isinstance(verify.get("keys"), list):
            keys = [str(resolve(k)) if isinstance(k, str) and k else k for k in verify["keys"]]
            place["verify"] = {**verify, "keys": keys}
    return data


def _read(path: Path, what: str, seen: FileSeen | None) -> bytes:
    """The bytes of a small file; :class:`InputError` saying why not."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_TRUST_FILE_SIZE + 1)
    except OSError as exc:
        raise InputError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_TRUST_FILE_SIZE:
        raise InputError(f"{what} {path} is larger than {MAX_TRUST_FILE_SIZE} bytes")
    if seen is not None:
        seen(path, raw)
    return raw


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    duplicated = sorted({k for k in keys if keys.count(k) > 1})
    if duplicated:
        raise ValueError(f"duplicate key {duplicated[0]!r}")
    return dict(pairs)


def read_policy_file(path: Path, seen: FileSeen | None = None) -> Policy:
    """Read and parse a policy.json and its key files;
    :class:`InputError` naming the file and what is wrong."""
    raw = _read(path, "policy file", seen)
    try:
        data = json.loads(raw.decode("utf-8"), object_pairs_hook=_reject_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"policy file {path} is not valid JSON: {exc}") from None
    key_files = {}
    for written in policy_key_paths(data):
        resolved = Path(os.path.expanduser(written))
        resolved = resolved if resolved.is_absolute() else path.parent / resolved
        key_files[written] = _read(resolved, f"key file (in {path})", seen)
    return parse_policy(data, key_files, name=str(path))


def _verify_key_places(state: DesiredState) -> list[tuple[Location, str]]:
    places: list[tuple[Location, str]] = []
    if state.defaults.verify is not None:
        places += [
            (("defaults", "verify", "keys", i), k) for i, k in enumerate(state.defaults.verify.keys)
        ]
    for index, entry in enumerate(state.images):
        if entry.verify is not None:
            places += [
                (("images", index, "verify", "keys", i), k) for i, k in enumerate(entry.verify.keys)
            ]
    return places


def read_trust(
    state: DesiredState, report: Report, options: TrustOptions, seen: FileSeen | None = None
) -> Trust:
    """The policy and keys ``state`` (and ``options``) name, each problem in
    ``report`` at the key naming the file."""
    if options.insecure:
        return Trust(insecure=True)
    policy = None
    path = options.policy or (Path(state.policy) if state.policy else None)
    if path is not None:
        try:
            policy = read_policy_file(path, seen)
        except InputError as exc:
            message = f"{exc.message} (hint: {POLICY_REMEDY})"
            if options.policy is not None:
                report.add(None, f"--policy: {message}")
            else:
                report.at(("policy",), message)
    keys: dict[str, VerifyKey] = {}
    for loc, key_path in _verify_key_places(state):
        if key_path in keys:
            continue
        try:
            keys[key_path] = load_public_key(_read(Path(key_path), "key file", seen), key_path)
        except InputError as exc:
            report.at(loc, f"{exc.message} (hint: {KEY_REMEDY})")
    return Trust(policy, keys)


def load_policy_option(path: Path) -> Trust:
    """``hangard copy --policy FILE``: the policy alone; :class:`ConfigError`
    with the remedy when it cannot be used."""
    try:
        return Trust(read_policy_file(path))
    except InputError as exc:
        raise ConfigError(f"{exc.message} (hint: {POLICY_REMEDY})") from None
