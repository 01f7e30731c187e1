"""The desired-state file's schema: pydantic models that forbid unknown keys.

Pure: the loader (:mod:`hangard.config.loader`) reads the files and hands
plain data to :meth:`DesiredState.model_validate`; this only checks shapes
and values (``config/README.md`` documents them), the values with the
core's parsers (:mod:`hangard.core.fieldchecks`). Checks that need the
whole document live in :mod:`hangard.core.crosscheck`.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from hangard.core.attachments import AttachmentSettings
from hangard.core.fieldchecks import (
    PlatformText,
    RegexText,
    ScheduleText,
    TagSpecText,
    check,
    check_host_key,
    parse_platform,
    parse_reference,
    parse_tag_spec,
    registry_host,
)
from hangard.core.platform import Platform
from hangard.core.policy import Trust, VerifySettings
from hangard.core.reference import Repository, parse_path
from hangard.core.registry_settings import (
    Credentials,
    HarborSettings,
    IsInstance,
    RegistrySettings,
    StrictModel,
)
from hangard.core.schedule import DEFAULT_SCHEDULE, check_schedule
from hangard.core.tags import parse_semver_range

__all__ = [
    "Credentials",
    "Defaults",
    "DesiredState",
    "Entry",
    "HarborSettings",
    "ImageEntry",
    "ListEntry",
    "ListLine",
    "Location",
    "RegistrySettings",
    "TagRules",
    "TagSelection",
    "Target",
    "parse_tag_spec",
    "registry_host",
]

Location = tuple[Hashable, ...]
"""Where a value sits in the desired-state document: ``("images", 3,
"tags", 0)``. The config loader maps it to FILE:LINE:COL."""


class Target(StrictModel):
    """A named destination: a registry plus a repository mapping rule, or a
    Hangar zip archive.

    * ``mapping: keep`` (default): the source path under ``prefix``:
      ``docker.io/library/nginx`` → ``REGISTRY/PREFIX/library/nginx``;
    * ``mapping: flatten``: the last path segment under ``prefix``:
      ``→ REGISTRY/PREFIX/nginx``.

    An image entry's ``destination`` overrides the rule for that image.

    ``archive: PATH`` (instead of ``registry``) keeps the images in a zip
    archive under their source names, as ``hangard save`` writes them: no
    ``prefix``, ``mapping`` or ``destination`` applies there.
    """

    registry: str | None = None
    archive: str | None = None
    """A Hangar zip archive (relative paths: to the config file)."""
    prefix: str = Field(default="", json_schema_extra={"pattern": "^([^/](.*[^/])?)?$"})
    """Path under which the images go (``mirror``, ``team/hub``; no leading or trailing ``/``)."""
    mapping: Literal["keep", "flatten"] = "keep"
    prune: bool = False  # delete owned tags no longer selected: hangard.core.prune
    prune_max: int | None = Field(default=None, ge=0)  # per cycle; default: hangard.core.prune

    @field_validator("prefix")
    @classmethod
    def _clean_prefix(cls, value: str) -> str:
        if value != value.strip("/"):  # refused, not guessed at
            suggestion = value.strip("/")
            hint = f"write {suggestion!r}" if suggestion else "leave it out"
            raise ValueError(
                f"prefix {value!r} is a repository path: no leading or trailing '/' ({hint})"
            )
        if value:
            check(parse_path, value)
        return value

    @field_validator("registry")
    @classmethod
    def _check_registry(cls, value: str | None) -> str | None:
        return None if value is None else registry_host(value)

    @field_validator("archive")
    @classmethod
    def _check_archive(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise ValueError("archive needs a file path")
        if ":" in value:
            raise ValueError(f"archive path {value!r} cannot contain ':'")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> Target:
        if (self.registry is None) == (self.archive is None):
            raise ValueError("a target needs either registry or archive (not both)")
        if self.archive is not None and self.model_fields_set & {"prefix", "mapping"}:
            raise ValueError(
                "an archive target keeps source names: prefix and mapping do not apply"
            )
        return self

    @property
    def is_archive(self) -> bool:
        return self.archive is not None

    def repository_for(self, source: Repository, destination: str | None = None) -> Repository:
        """Where ``source`` goes; in an archive, its own name."""
        if self.registry is None:
            return source
        if destination:
            path = destination.strip("/")
        elif self.mapping == "flatten":
            path = source.path.rsplit("/", 1)[-1]
        else:
            path = source.path
        if self.prefix and not destination:
            path = f"{self.prefix}/{path}"
        return Repository(self.registry, path)


class TagRules(StrictModel):
    """Tag selection by pattern. Every present rule must hold; ``latest``
    then keeps the N highest by semver order."""

    include: list[RegexText] = Field(default_factory=list)
    """Anchored regexes; a tag must match at least one (when given)."""
    exclude: list[RegexText] = Field(default_factory=list)
    """Anchored regexes; a tag matching any is dropped."""
    semver: str | None = None
    """An npm-style range, e.g. ``>=1.24 <2`` or ``^3.18``."""
    latest: int | None = Field(default=None, ge=1)
    """Keep the N highest versions; pre-releases count unless ``semver`` or
    ``exclude`` removes them."""

    @field_validator("semver")
    @classmethod
    def _check_semver(cls, value: str | None) -> str | None:
        if value is not None:
            check(parse_semver_range, value)
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> TagRules:
        if not (self.include or self.exclude or self.semver or self.latest):
            raise ValueError("a tag rule needs include, exclude, semver or latest")
        return self


class _EntryBase(StrictModel):
    platforms: list[PlatformText] | None = None
    targets: list[str] | None = None
    schedule: ScheduleText | None = None
    verify: VerifySettings | None = None
    attachments: AttachmentSettings | None = None
    prune: bool | None = None  # overrides the targets' prune: hangard.core.prune

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: str | None) -> str | None:
        return check_schedule(value) if value is not None else None

    def platform_list(self, defaults: Defaults) -> tuple[Platform, ...]:
        values = self.platforms if self.platforms is not None else defaults.platforms
        return tuple(parse_platform(v) for v in values)


def _tags_kind(value: Any) -> str:
    return "rules" if isinstance(value, dict | TagRules) else "explicit"


#: ``tags``: a list of tag names, or a mapping of rules. Discriminated by the
#: input's shape so that errors come from one branch only; their location
#: carries the tag (``explicit`` or ``rules``) after ``tags``.
TagSelection = Annotated[
    Annotated[list[TagSpecText], Tag("explicit")] | Annotated[TagRules, Tag("rules")],
    Discriminator(_tags_kind),
]


class ImageEntry(_EntryBase):
    """One source repository and which of its tags to mirror."""

    source: str
    tags: TagSelection
    """Explicit tags (``1.27``; ``stable@sha256:…`` pins a digest pushed
    under that tag) or pattern rules."""
    destination: str | None = None
    """Repository path on every target, overriding the targets' mapping."""

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str) -> str:
        ref = parse_reference(value)
        if ref.tag or ref.digest:
            raise ValueError(
                f"source {value!r} must be a repository without tag or digest; put tags in 'tags'"
            )
        return value

    @field_validator("tags")
    @classmethod
    def _check_tags(cls, value: list[str] | TagRules) -> list[str] | TagRules:
        if isinstance(value, list) and not value:
            raise ValueError("tags must not be empty")
        return value

    @field_validator("destination")
    @classmethod
    def _check_destination(cls, value: str | None) -> str | None:
        if value is not None:
            if ":" in value or "@" in value:
                raise ValueError("destination is a repository path, without tag or digest")
            check(parse_path, value.strip("/"))
        return value

    @property
    def repository(self) -> Repository:
        return parse_reference(self.source).repository


class ListLine(StrictModel):
    """One parsed line of a Hangar list: an image, or ``SOURCE DEST TAG``."""

    line: int
    source: str
    tag: str
    digest: str | None = None
    destination: str | None = None


class ListEntry(_EntryBase):
    """A Hangar image list file (``list: PATH``, relative to the config
    file): one image per line, or ``SOURCE DEST TAG``."""

    list_file: str = Field(alias="list", min_length=1)
    lines: SkipJsonSchema[tuple[ListLine, ...]] = ()
    """Filled by the loader, never written in the file."""


def _entry_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "list" if "list" in value else "image"
    return "list" if isinstance(value, ListEntry) else "image"


#: An ``images`` item. Validation errors carry the tag (``image`` or
#: ``list``) in their location, after the list index.
Entry = Annotated[
    Annotated[ImageEntry, Tag("image")] | Annotated[ListEntry, Tag("list")],
    Discriminator(_entry_kind),
]


class Defaults(StrictModel):
    platforms: list[PlatformText] = Field(default_factory=list)
    """Empty means every platform (the index digest is then preserved)."""
    targets: list[str] = Field(default_factory=list)
    schedule: ScheduleText = DEFAULT_SCHEDULE
    verify: VerifySettings | None = None
    attachments: AttachmentSettings = Field(default_factory=AttachmentSettings)

    @field_validator("schedule")
    @classmethod
    def _check_schedule(cls, value: str) -> str:
        return check_schedule(value)


class DesiredState(StrictModel):
    version: Literal[1] = 1
    defaults: Defaults = Field(default_factory=Defaults)
    registries: dict[Annotated[str, AfterValidator(check_host_key)], RegistrySettings] = Field(
        default_factory=dict
    )
    """Keys are registry hosts as written; :func:`registry_host` canonicalises."""
    targets: dict[str, Target]
    images: list[Entry] = Field(default_factory=list)
    policy: str | None = Field(default=None, min_length=1)  # containers policy.json
    trust: SkipJsonSchema[Annotated[Trust, IsInstance()]] = Field(
        default_factory=Trust, exclude=True, repr=False
    )  # loader's

    @property
    def schedules(self) -> frozenset[str]:
        """Every distinct schedule: the default and each entry's own."""
        return frozenset({self.defaults.schedule} | {e.schedule for e in self.images if e.schedule})

    def schedule_of(self, entry: Entry) -> str:
        """The schedule ``entry`` runs on."""
        return entry.schedule or self.defaults.schedule
