"""The problems found while loading a desired-state file, each placed at
``FILE:LINE:COL``: in the config file from its YAML node positions, or in a
list file at the line that caused it.

:class:`Report` turns pydantic's validation errors and the cross-reference
findings of :func:`hangard.core.crosscheck.check_references` (which speak in
locations like ``("images", 3, "tags", 0)``) into :class:`Problem` values,
and sorts them: the config file first, then list files in the order they are
referenced; by line and column within a file.
"""

from __future__ import annotations

from pydantic_core import ErrorDetails

from hangard.config.messages import error_message, first_column, strip_union_tags, unknown_key
from hangard.config.positions import Position, Problem, YamlDocument
from hangard.core.crosscheck import check_references
from hangard.core.desired import DesiredState, Location

__all__ = ["Report"]


class Report:
    def __init__(self, display: str) -> None:
        self.display = display
        """The config file as the user named it."""
        self.doc = YamlDocument(display)
        """The parsed config file, with node positions."""
        self.problems: list[Problem] = []
        self.file_rank: dict[str, int] = {display: 0}
        self.lists: dict[int, tuple[str, str]] = {}
        """(``images`` index) -> (display name, text) of its list file."""
        self.handled: set[Location] = set()
        """Locations whose schema error was replaced by a better message."""

    def add(self, position: Position | None, message: str, file: str | None = None) -> None:
        self.problems.append(Problem.at(file or self.display, position, message))

    def at(self, loc: Location, message: str) -> None:
        """A problem with the value at ``loc`` in the config file."""
        self.add(self.doc.where(loc), message)

    def warn(self, loc: Location, message: str) -> None:
        """A warning about the value at ``loc``: the file stays valid."""
        self.problems.append(Problem.at(self.display, self.doc.where(loc), message, "warning"))

    def list_file(self, index: int, display: str, text: str) -> None:
        """The list file read for ``images[index]``."""
        self.file_rank.setdefault(display, len(self.file_rank))
        self.lists[index] = (display, text)

    def schema_error(self, error: ErrorDetails) -> None:
        raw = tuple(error["loc"])
        loc = strip_union_tags(raw)
        if loc in self.handled:
            return
        kind = error["type"]
        if loc and loc[-1] == "[key]":
            self.add(self.doc.key_position(loc[:-1]), error_message(error, None))
        elif kind == "extra_forbidden":
            self.add(self.doc.key_position(loc), unknown_key(loc[-1], raw[:-1]))
        elif kind == "missing":
            self.add(self.doc.where(loc[:-1]), f"missing required key {loc[-1]!r}")
        else:
            found = self.doc.nearest(loc)
            info = found[1] if found and found[0] == loc else None
            self.add(self.doc.where(loc), error_message(error, info))

    def references(self, state: DesiredState, kept: list[int] | None = None) -> None:
        """Cross-reference problems of ``state``; ``kept`` maps its ``images``
        indexes back to the file's when bad entries were left out."""
        for finding in check_references(state):
            message = finding.text(lambda other: self._place(_in_file(other, kept)))
            file, position = self._locate(_in_file(finding.where, kept))
            self.problems.append(Problem.at(file, position, message))

    def sorted(self) -> list[Problem]:
        unique = list(dict.fromkeys(self.problems))
        rank = self.file_rank
        return sorted(
            unique,
            key=lambda p: (rank.get(p.file, len(rank)), p.file, p.line or 0, p.column or 0),
        )

    def _locate(self, loc: Location) -> tuple[str, Position | None]:
        """The file and position of a :func:`check_references` location."""
        if len(loc) == 4 and loc[0] == "images" and loc[2] == "list" and isinstance(loc[3], int):
            index, line = loc[1], loc[3]
            if isinstance(index, int) and index in self.lists:
                display, text = self.lists[index]
                return display, Position(line, first_column(text, line))
        return self.display, self.doc.where(loc)

    def _place(self, loc: Location) -> str:
        file, position = self._locate(loc)
        if position is None:
            return file
        return f"{file}:{position.line}:{position.column}"


def _in_file(loc: Location, kept: list[int] | None) -> Location:
    """``loc`` with its ``images`` index mapped back to the file's."""
    if kept is not None and len(loc) > 1 and loc[0] == "images" and isinstance(loc[1], int):
        return ("images", kept[loc[1]], *loc[2:])
    return loc
