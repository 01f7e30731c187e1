"""Read a desired-state file, with every problem pointed at ``FILE:LINE:COL``.

The schema lives in :mod:`hangard.core.desired` (pure); this module does the
I/O around it, and :mod:`hangard.config.report` places each problem found:

1. read the file and parse the YAML, keeping each node's position and
   rejecting duplicate keys (:mod:`hangard.config.positions`);
2. reject secrets written into the file (``password:``, ``token:``, …);
3. read every ``list:`` file (relative to the config file) and parse its
   lines (:mod:`hangard.config.hangarlist`);
4. resolve ``ca_file``, ``cert_dir``, ``client_cert``, ``client_key``,
   ``password_file``, ``list``, ``archive``, ``policy`` and ``verify.keys``
   paths against the config file's directory; check the TLS files are readable;
5. check cron schedules with APScheduler (the core only counts fields);
6. validate with :meth:`DesiredState.model_validate`, then
   :func:`~hangard.core.crosscheck.check_references`;
7. read the signature policy and keys (:mod:`hangard.config.trustfiles`).

All problems are reported, sorted (see :class:`~hangard.config.report.Report`).
Cross-references (target names, duplicate outputs) are checked when the schema
errors, if any, are confined to ``images`` entries: a bad entry then keeps
its good fields, so that its targets are still checked (an entry whose
source, tags, list or destination is bad produces no outputs, but its
``targets`` are checked).

Secrets are read when the daemon starts
(:func:`hangard.config.registries.credential_store`), so a file can be
validated on a machine that does not hold them: an unset ``password_env``
variable or an unreadable ``password_file`` is a *warning*
(``FILE:LINE:COL: warning: ...``; the file stays valid), and an error with
``check_secrets=True``. No secret is read or printed.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from hangard.config.hangarlist import parse_hangar_list
from hangard.config.messages import strip_union_tags
from hangard.config.positions import Problem, load_yaml
from hangard.config.report import Report
from hangard.config.salvage import salvage_entry
from hangard.config.trustfiles import TrustOptions, read_trust, resolve_trust_paths
from hangard.core.desired import DesiredState, ListEntry, Location
from hangard.core.schedule import parse_interval
from hangard.errors import ConfigError

__all__ = [
    "INLINE_SECRET_KEYS",
    "INLINE_SECRET_MESSAGE",
    "ConfigCheck",
    "LoadedConfig",
    "Problem",
    "check_config",
    "load_config",
]

#: Keys that would hold a secret: rejected anywhere under ``registries`` and
#: ``targets`` (compared case-insensitively).
INLINE_SECRET_KEYS = frozenset({"password", "token", "secret", "auth", "identitytoken"})
INLINE_SECRET_MESSAGE = (
    "credentials must not be written in the file: "
    "use password_env or password_file (or docker_config: true)"
)


@dataclass(frozen=True)
class LoadedConfig:
    """A valid desired state and where it came from."""

    path: Path
    """The config file (absolute)."""
    state: DesiredState
    """List lines filled in; ``list``, ``ca_file`` and ``password_file`` are
    absolute paths."""
    files: list[Path]
    """The config file, then every list file: what to watch for changes."""
    source_text_digest: str
    """``sha256:…`` over the contents of :attr:`files` (with their paths)."""

    def summary(self) -> str:
        """``3 targets, 5 image entries (1 list file, 12 list lines)``."""
        state = self.state
        lists = [e for e in state.images if isinstance(e, ListEntry)]
        lines = sum(len(e.lines) for e in lists)
        text = (
            f"{_plural(len(state.targets), 'target')}, "
            f"{_plural(len(state.images), 'image entry', 'image entries')}"
        )
        if lists:
            text += f" ({_plural(len(lists), 'list file')}, {_plural(lines, 'list line')})"
        return text


class ConfigCheck(NamedTuple):
    """What reading a desired-state file found: the config when it is valid
    (``problems`` then holds warnings only), else every problem."""

    loaded: LoadedConfig | None
    problems: list[Problem]


def check_config(
    path: str | os.PathLike[str],
    *,
    check_secrets: bool = False,
    environ: Mapping[str, str] | None = None,
    trust: TrustOptions | None = None,
) -> ConfigCheck:
    """Read and validate a desired-state file and its list files:
    ``(loaded, warnings)`` when valid, else ``(None, problems)``."""
    return ConfigCheck(*_Loader(path, check_secrets, environ, trust or TrustOptions()).run())


def load_config(
    path: str | os.PathLike[str],
    *,
    check_secrets: bool = False,
    environ: Mapping[str, str] | None = None,
    trust: TrustOptions | None = None,
) -> LoadedConfig:
    """:func:`check_config`, raising :class:`~hangard.errors.ConfigError`
    (whose ``problems`` are each formatted ``FILE:LINE:COL: message``) when
    the file is invalid."""
    loaded, found = check_config(path, check_secrets=check_secrets, environ=environ, trust=trust)
    problems = [p for p in found if p.is_error]
    if problems or loaded is None:
        count = _plural(len(problems), "problem")
        raise ConfigError(f"{os.fspath(path)}: {count}", problems=[str(p) for p in problems])
    return loaded


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


class _Loader:
    def __init__(
        self,
        path: str | os.PathLike[str],
        check_secrets: bool,
        environ: Mapping[str, str] | None,
        trust: TrustOptions,
    ) -> None:
        self.display = os.fspath(path)
        self.path = Path(os.path.abspath(self.display))
        self.base = self.path.parent
        self.check_secrets = check_secrets
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.report = Report(self.display)
        self.files: list[Path] = [self.path]
        self.digest = hashlib.sha256()
        self.trust = trust

    # -- the steps --------------------------------------------------------

    def run(self) -> tuple[LoadedConfig | None, list[Problem]]:
        data = self._read_config()
        state = None
        if data is not None:
            state = self._check(data)
        problems = self.report.sorted()
        if state is None or any(p.is_error for p in problems):
            return None, problems
        loaded = LoadedConfig(self.path, state, self.files, f"sha256:{self.digest.hexdigest()}")
        return loaded, problems

    def _read_config(self) -> Any:
        try:
            raw = self.path.read_bytes()
        except OSError as exc:
            self.report.add(None, f"cannot read {self.path}: {exc.strerror or exc}")
            return None
        self._hash(self.path, raw)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.report.add(None, f"not UTF-8 text (byte {exc.start})")
            return None
        self.report.doc = load_yaml(text, self.display)
        self.report.problems.extend(self.report.doc.problems)
        if not self.report.doc.ok:
            return None
        return {} if self.report.doc.data is None else copy.deepcopy(self.report.doc.data)

    def _check(self, data: Any) -> DesiredState | None:
        self._inline_secrets()
        if isinstance(data, dict):
            data = self._prepare(data)
        self._cron_schedules(data)
        state = self._validate(data)
        if state is not None:
            self._secrets(state)
            trust = read_trust(state, self.report, self.trust, self._seen)
            state = state.model_copy(update={"trust": trust})
        return state

    def _inline_secrets(self) -> None:
        for path, info in self.report.doc.nodes.items():
            if (
                len(path) >= 3
                and path[0] in ("registries", "targets")
                and isinstance(path[-1], str)
                and path[-1].lower() in INLINE_SECRET_KEYS
            ):
                self.report.handled.add(path)
                self.report.add(info.key, INLINE_SECRET_MESSAGE)

    def _prepare(self, data: dict[Any, Any]) -> dict[Any, Any]:
        """Read list files and resolve relative paths, before validation."""
        images = data.get("images")
        if isinstance(images, list):
            data["images"] = [self._list_entry(i, e) for i, e in enumerate(images)]
        targets = data.get("targets")
        if isinstance(targets, dict):
            data["targets"] = {name: self._target(t) for name, t in targets.items()}
        registries = data.get("registries")
        if isinstance(registries, dict):
            data["registries"] = {
                host: self._registry(host, settings) for host, settings in registries.items()
            }
        return resolve_trust_paths(data, self._resolve, self.report)

    def _list_entry(self, index: int, entry: Any) -> Any:
        if not isinstance(entry, dict) or "list" not in entry:
            return entry
        loc: Location = ("images", index, "lines")
        if "lines" in entry:
            self.report.handled.add(loc)
            self.report.add(
                self.report.doc.key_position(loc),
                "unknown key 'lines': the lines come from the list file",
            )
        value = entry["list"]
        if not isinstance(value, str) or not value.strip():
            return entry  # the schema reports it
        resolved = self._resolve(value)
        display = os.path.normpath(os.path.join(os.path.dirname(self.display), value))
        try:
            raw = resolved.read_bytes()
            text = raw.decode("utf-8")
        except OSError as exc:
            self.report.at(
                ("images", index, "list"),
                f"cannot read list file {resolved}: {exc.strerror or exc}",
            )
            return {**entry, "list": str(resolved), "lines": ()}
        except UnicodeDecodeError as exc:
            self.report.at(
                ("images", index, "list"),
                f"list file {resolved} is not UTF-8 text (byte {exc.start})",
            )
            return {**entry, "list": str(resolved), "lines": ()}
        self._seen(resolved, raw)
        self.report.list_file(index, display, text)
        parsed = parse_hangar_list(text, display)
        self.report.problems.extend(parsed.problems)
        return {**entry, "list": str(resolved), "lines": tuple(parsed.lines)}

    def _target(self, target: Any) -> Any:
        archive = target.get("archive") if isinstance(target, dict) else None
        if isinstance(archive, str) and archive.strip() and ":" not in archive:
            return {**target, "archive": str(self._resolve(archive))}
        return target

    def _registry(self, host: Any, settings: Any) -> Any:
        if not isinstance(settings, dict):
            return settings
        settings = dict(settings)
        for key in ("ca_file", "cert_dir", "client_cert", "client_key"):
            value = settings.get(key)
            if not (isinstance(value, str) and value):
                continue
            resolved = self._resolve(value)
            settings[key] = str(resolved)
            try:
                os.listdir(resolved) if key == "cert_dir" else resolved.open("rb").close()
            except OSError as exc:
                message = f"cannot read {key} {resolved}: {exc.strerror or exc}"
                self.report.at(("registries", host, key), message)
        creds = settings.get("credentials")
        if isinstance(creds, dict) and isinstance(creds.get("password_file"), str):
            creds = dict(creds)
            creds["password_file"] = str(self._resolve(creds["password_file"]))
            settings["credentials"] = creds
        return settings

    def _cron_schedules(self, data: Any) -> None:
        if not isinstance(data, dict):
            return
        places: list[tuple[Location, Any]] = []
        defaults = data.get("defaults")
        if isinstance(defaults, dict):
            places.append((("defaults", "schedule"), defaults.get("schedule")))
        images = data.get("images")
        if isinstance(images, list):
            for i, entry in enumerate(images):
                if isinstance(entry, dict):
                    places.append((("images", i, "schedule"), entry.get("schedule")))
        for loc, value in places:
            text = value.strip() if isinstance(value, str) else ""
            if not text or parse_interval(text) is not None or len(text.split()) != 5:
                continue  # not a string, an interval, or the schema reports it
            from apscheduler.triggers.cron import CronTrigger  # only for cron schedules

            try:
                CronTrigger.from_crontab(text, timezone="UTC")
            except ValueError as exc:
                self.report.handled.add(loc)
                self.report.at(loc, f"bad cron schedule {text!r}: {exc}")

    def _validate(self, data: Any) -> DesiredState | None:
        try:
            state = DesiredState.model_validate(data)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            for error in errors:
                self.report.schema_error(error)
            self._salvage_references(data, errors)
            return None
        self.report.references(state)
        return state

    def _salvage_references(self, data: Any, errors: list[ErrorDetails]) -> None:
        """Check cross-references when the schema errors are confined to
        ``images`` entries: each bad entry keeps its good fields."""
        bad: dict[int, set[Hashable]] = {}
        for error in errors:
            loc = strip_union_tags(tuple(error["loc"]))
            if len(loc) < 2 or loc[0] != "images" or not isinstance(loc[1], int):
                return
            bad.setdefault(loc[1], set()).add(loc[2] if len(loc) > 2 else None)
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            return
        kept: list[int] = []
        entries: list[Any] = []
        for index, entry in enumerate(data["images"]):
            if index in bad:
                entry = salvage_entry(entry, bad[index])
                if entry is None:
                    continue
            kept.append(index)
            entries.append(entry)
        try:
            state = DesiredState.model_validate({**data, "images": entries})
        except ValidationError:
            return
        self.report.references(state, kept)

    def _secrets(self, state: DesiredState) -> None:
        report = self.report.at if self.check_secrets else self.report.warn
        for host, settings in state.registries.items():
            creds = settings.credentials
            if creds is None:
                continue
            base: Location = ("registries", host, "credentials")
            variable = creds.password_env
            if variable is not None and not self.environ.get(variable):
                state_word = "empty" if variable in self.environ else "not set"
                report(
                    (*base, "password_env"),
                    f"environment variable {variable} is {state_word}",
                )
            if creds.password_file is not None and not os.access(creds.password_file, os.R_OK):
                report(
                    (*base, "password_file"),
                    f"cannot read password_file {creds.password_file}",
                )

    # -- helpers ----------------------------------------------------------

    def _resolve(self, value: str) -> Path:
        path = Path(os.path.expanduser(value))
        return path if path.is_absolute() else self.base / path

    def _seen(self, path: Path, raw: bytes) -> None:  # a file read: watched and hashed
        self._hash(path, raw)
        if path not in self.files:
            self.files.append(path)

    def _hash(self, path: Path, raw: bytes) -> None:
        self.digest.update(os.fsencode(path) + b"\0")
        self.digest.update(len(raw).to_bytes(8, "big") + raw)
