"""The signature policy: what an image needs before it is copied. Pure.

Two sources, which both apply (every requirement must hold):

* ``verify: {keys: [...]}`` on an entry or in ``defaults``
  (:class:`VerifySettings`): a cosign signature by one of the keys, with no
  identity check, as ``cosign verify --key`` does;
* a containers ``policy.json`` (``policy:`` in the config, or ``--policy``),
  parsed by :func:`parse_policy` as containers-policy.json(5) defines it:
  the global ``default`` and the ``transports.docker`` scopes (only the
  most specific matching scope applies: ``host/repo:tag``, ``host/repo``,
  each parent namespace, ``host``, ``*.parent.domain`` wildcards, then the
  transport's ``""``, then ``default``), with the requirements
  ``insecureAcceptAnything``, ``reject`` and ``sigstoreSigned`` with
  ``keyPath``, ``keyPaths``, ``keyData`` or ``keyDatas`` and a
  ``signedIdentity``. Keyless (``fulcio``, ``pki``) and Rekor options, and
  GPG ``signedBy``, are refused with a clear error.

Key files are read by the caller (:mod:`hangard.config.trustfiles`):
:func:`policy_key_paths` names them, :func:`parse_policy` takes their bytes.
The decision over fetched signatures is :func:`hangard.core.verdict.decide`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import Field

from hangard.core.reference import ImageReference, canonical_host, parse_reference
from hangard.core.registry_settings import StrictModel
from hangard.core.signature import VerifyKey, load_public_key
from hangard.errors import InputError

__all__ = [
    "AcceptAnything",
    "HasVerify",
    "Identity",
    "Policy",
    "Reject",
    "Requirement",
    "SigstoreSigned",
    "Trust",
    "VerifySettings",
    "entry_keys",
    "parse_policy",
    "policy_key_paths",
]


class VerifySettings(StrictModel):
    """``verify:`` on an entry or in ``defaults``: the image needs a cosign
    signature that one of ``keys`` (PEM public key files; relative: to the
    config file) verifies. An entry's ``verify`` replaces the default one;
    ``keys: []`` turns it off for that entry."""

    keys: list[str] = Field(default_factory=list)


def entry_keys(own: VerifySettings | None, default: VerifySettings | None) -> tuple[str, ...]:
    """The key files an entry's images must be signed by."""
    chosen = own if own is not None else default
    return tuple(chosen.keys) if chosen is not None else ()


@dataclass(frozen=True)
class AcceptAnything:
    """``insecureAcceptAnything``."""


@dataclass(frozen=True)
class Reject:
    """``reject``: no image of the scope is copied."""

    scope: str


_IDENTITY_TYPES = {
    "matchExact": None,
    "matchRepoDigestOrExact": None,
    "matchRepository": None,
    "exactReference": "dockerReference",
    "exactRepository": "dockerRepository",
}


@dataclass(frozen=True)
class Identity:
    """``signedIdentity``: what the payload's ``docker-reference`` must be.
    ``None`` (hangard's own ``verify``) checks no identity."""

    kind: str
    value: str | None = None

    def matches(self, image: ImageReference, claimed: str | None) -> bool:
        """Whether a signature claiming ``claimed`` fits ``image``."""
        try:
            signed = parse_reference(claimed) if claimed else None
        except InputError:
            return False
        if signed is None or signed.digest:
            return False
        kind, want = self.kind, image
        if self.value is not None:
            want = parse_reference(self.value)
            kind = "matchExact" if kind == "exactReference" else "matchRepository"
        if kind == "matchRepoDigestOrExact":
            kind = "matchExact" if want.tag else "matchRepository"
        if kind == "matchExact":
            return bool(want.tag) and (signed.name, signed.tag) == (want.name, want.tag)
        return signed.name == want.name


@dataclass(frozen=True)
class SigstoreSigned:
    """A cosign signature by one of ``keys`` whose payload names the image's
    digest (and, with ``identity``, a fitting reference)."""

    keys: tuple[VerifyKey, ...]
    identity: Identity | None = None
    source: str = "verify.keys"
    """Where it was asked for, for messages: ``verify.keys`` or the scope."""


Requirement = AcceptAnything | Reject | SigstoreSigned


@dataclass(frozen=True)
class Policy:
    """A parsed ``policy.json``: requirements per ``docker`` scope."""

    default: tuple[Requirement, ...]
    docker: Mapping[str, tuple[Requirement, ...]] = field(default_factory=dict)

    def requirements_for(self, image: ImageReference) -> tuple[Requirement, ...]:
        """The requirements of the most specific scope that matches."""
        for scope in _scopes(image):
            if scope in self.docker:
                return self.docker[scope]
        return self.default


def _scopes(image: ImageReference) -> list[str]:
    """``image``'s docker scopes, most specific first."""
    scopes = []
    if image.tag:
        scopes.append(f"{image.name}:{image.tag}")
    if image.digest:
        scopes.append(f"{image.name}@{image.digest}")
    parts = image.path.split("/")
    scopes += [f"{image.registry}/{'/'.join(parts[:n])}" for n in range(len(parts), 0, -1)]
    scopes.append(image.registry)
    labels = image.registry.split(":")[0].split(".")
    scopes += ["*." + ".".join(labels[n:]) for n in range(1, len(labels))]
    scopes.append("")
    return scopes


class HasVerify(Protocol):
    """An entry, or the defaults: what names its ``verify.keys``."""

    @property
    def verify(self) -> VerifySettings | None: ...


@dataclass(frozen=True)
class Trust:
    """Everything a run verifies with: the policy (if any), every key file
    the config names, by path, and whether ``--insecure-policy`` skips it all."""

    policy: Policy | None = None
    keys: Mapping[str, VerifyKey] = field(default_factory=dict)
    insecure: bool = False

    def of(
        self, image: ImageReference, entry: HasVerify, defaults: HasVerify
    ) -> tuple[Requirement, ...]:
        """What ``image``, selected by ``entry``, needs (its ``verify``, else
        the defaults', and the policy's scope)."""
        return self.requirements(image, entry_keys(entry.verify, defaults.verify))

    def requirements(
        self, image: ImageReference, key_paths: Sequence[str]
    ) -> tuple[Requirement, ...]:
        """What ``image`` (of an entry whose ``verify.keys`` are
        ``key_paths``) needs; ``()``: nothing, no request is made."""
        if self.insecure:
            return ()
        found: tuple[Requirement, ...] = ()
        if self.policy is not None:
            found = self.policy.requirements_for(image)
            if all(isinstance(r, AcceptAnything) for r in found):
                found = ()
        if key_paths:
            keys = tuple(self.keys[p] for p in key_paths if p in self.keys)
            found += (SigstoreSigned(keys),)
        return found


# -- parsing policy.json ------------------------------------------------------

_UNSUPPORTED = {
    "fulcio": "keyless (Fulcio) verification is not supported; use a public key",
    "pki": "certificate (pki) verification is not supported; use a public key",
    "rekorPublicKeyPath": "Rekor verification is not supported",
    "rekorPublicKeyPaths": "Rekor verification is not supported",
    "rekorPublicKeyData": "Rekor verification is not supported",
    "rekorPublicKeyDatas": "Rekor verification is not supported",
}
_KEY_FIELDS = ("keyPath", "keyPaths", "keyData", "keyDatas")


def _fail(where: str, message: str) -> InputError:
    return InputError(f"{where}: {message}")


def _object(value: Any, where: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, "must be a JSON object")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise _fail(where, f"unknown field {unknown[0]!r}")
    return value


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _fail(where, "must be a non-empty list of strings")
    return value


def policy_key_paths(data: Any) -> list[str]:
    """Every ``keyPath``/``keyPaths`` entry of a parsed policy.json, for the
    caller to read (unchecked: :func:`parse_policy` reports bad shapes)."""
    lists: list[Any] = [data.get("default")] if isinstance(data, dict) else []
    transports = data.get("transports") if isinstance(data, dict) else None
    docker = transports.get("docker") if isinstance(transports, dict) else None
    if isinstance(docker, dict):
        lists += docker.values()
    found: list[str] = []
    for requirements in lists:
        for req in requirements if isinstance(requirements, list) else ():
            if isinstance(req, dict):
                paths = req.get("keyPaths")
                found += [p for p in paths if isinstance(p, str)] if isinstance(paths, list) else []
                if isinstance(req.get("keyPath"), str):
                    found.append(req["keyPath"])
    return found


def parse_policy(data: Any, key_files: Mapping[str, bytes], *, name: str) -> Policy:
    """The policy in ``data`` (parsed JSON of the file ``name``), its key
    files' bytes in ``key_files``; :class:`InputError` on anything that is
    not a policy hangard can enforce, naming the place in the file."""
    doc = _object(data, name, {"default", "transports"})
    if "default" not in doc:
        raise _fail(name, "the global 'default' requirements are mandatory")
    default = _requirements(doc["default"], f"{name}: default", key_files, "default")
    transports = doc.get("transports", {})
    if not isinstance(transports, dict):
        raise _fail(f"{name}: transports", "must be a JSON object")
    docker: dict[str, tuple[Requirement, ...]] = {}
    raw = transports.get("docker", {})  # other transports: not hangard's sources
    if not isinstance(raw, dict):
        raise _fail(f"{name}: transports.docker", "must be a JSON object")
    for scope, reqs in raw.items():
        where = f"{name}: transports.docker[{scope!r}]"
        docker[_check_scope(scope, where)] = _requirements(
            reqs, where, key_files, scope or "docker"
        )
    return Policy(default, docker)


def _check_scope(scope: str, where: str) -> str:
    if not scope or scope.startswith("*."):
        return scope
    host, sep, rest = scope.partition("/")
    if "://" in scope or (not sep and ("@" in scope or host != host.strip())):
        raise _fail(where, "a docker scope is host[/namespace[/repo[:tag|@digest]]]")
    try:
        canonical = canonical_host(host)
    except InputError as exc:
        raise _fail(where, exc.message) from None
    return f"{canonical}{sep}{rest}"


def _requirements(
    value: Any, where: str, key_files: Mapping[str, bytes], scope: str
) -> tuple[Requirement, ...]:
    if not isinstance(value, list) or not value:
        raise _fail(where, "must be a non-empty list of requirements")
    return tuple(_requirement(v, f"{where}[{i}]", key_files, scope) for i, v in enumerate(value))


def _requirement(value: Any, where: str, key_files: Mapping[str, bytes], scope: str) -> Requirement:
    kind = value.get("type") if isinstance(value, dict) else None
    if kind == "insecureAcceptAnything":
        _object(value, where, {"type"})
        return AcceptAnything()
    if kind == "reject":
        _object(value, where, {"type"})
        return Reject(scope)
    if kind == "sigstoreSigned":
        return _sigstore(value, where, key_files, scope)
    if kind == "signedBy":
        raise _fail(
            where, "GPG 'signedBy' is not supported; use 'sigstoreSigned' with a public key"
        )
    raise _fail(
        where,
        f"unknown requirement type {kind!r} "
        "(known: insecureAcceptAnything, reject, sigstoreSigned)",
    )


def _sigstore(
    value: dict[str, Any], where: str, key_files: Mapping[str, bytes], scope: str
) -> SigstoreSigned:
    for key, why in _UNSUPPORTED.items():
        if key in value:
            raise _fail(where, why)
    _object(value, where, {"type", "signedIdentity", *_KEY_FIELDS})
    given = [k for k in _KEY_FIELDS if k in value]
    if len(given) != 1:
        raise _fail(where, "give exactly one of keyPath, keyPaths, keyData and keyDatas")
    field_name = given[0]
    raw = value[field_name]
    items = (
        [raw] if field_name in ("keyPath", "keyData") else _strings(raw, f"{where}.{field_name}")
    )
    keys = []
    for n, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise _fail(f"{where}.{field_name}", "must be a non-empty string")
        label = f"{where}.{field_name}" + (f"[{n}]" if len(items) > 1 else "")
        keys.append(_key(field_name, item, label, key_files))
    identity = _identity(value.get("signedIdentity"), f"{where}.signedIdentity")
    return SigstoreSigned(tuple(keys), identity, f"policy scope {scope!r}")


def _key(field_name: str, item: str, label: str, key_files: Mapping[str, bytes]) -> VerifyKey:
    if field_name.startswith("keyPath"):
        if item not in key_files:
            raise _fail(label, f"key file {item} was not read")
        pem, name = key_files[item], item
    else:
        try:
            pem, name = base64.b64decode(item, validate=True), label
        except (binascii.Error, ValueError):
            raise _fail(label, "keyData must be base64 of a PEM public key") from None
    try:
        return load_public_key(pem, name)
    except InputError as exc:
        raise _fail(label, exc.message) from None


def _identity(value: Any, where: str) -> Identity:
    if value is None:
        return Identity("matchRepoDigestOrExact")
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in _IDENTITY_TYPES:
        raise _fail(
            where, f"unsupported signedIdentity type {kind!r} (known: {', '.join(_IDENTITY_TYPES)})"
        )
    extra = _IDENTITY_TYPES[kind]
    _object(value, where, {"type", *([extra] if extra else [])})
    if extra is None:
        return Identity(kind)
    target = value.get(extra)
    try:
        ref = parse_reference(target) if isinstance(target, str) else None
    except InputError as exc:
        raise _fail(f"{where}.{extra}", exc.message) from None
    if ref is None or ref.digest or (extra == "dockerReference") != bool(ref.tag):
        raise _fail(
            f"{where}.{extra}",
            "must be a " + ("tagged reference" if extra == "dockerReference" else "repository"),
        )
    return Identity(kind, target)
