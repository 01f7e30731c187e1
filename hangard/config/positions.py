"""Where things are in a file: positions, problems, and a YAML reader that
remembers the line and column of every node.

PyYAML's ``safe_load`` forgets positions and silently keeps the last of two
equal keys. :func:`load_yaml` composes the node graph instead, reports
duplicate keys, constructs the data from the same nodes and keeps a map from
each value's path (``("images", 0, "tags", 1)``: mapping keys and sequence
indexes) to where it was written. Lines and columns are 1-based.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from hangard.core.desired import Location

# libyaml's parser when PyYAML was built with it: the same nodes and marks,
# several times faster. Its syntax messages are terser ("did not find expected
# ',' or '}'" without saying what it found), so a file it refuses is parsed
# again by the pure-Python loader, whose message is the one shown.
_FAST_LOADER: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)

__all__ = ["NodeInfo", "Position", "Problem", "YamlDocument", "load_yaml"]


_MERGE_TAG = "tag:yaml.org,2002:merge"
#: Stop mapping positions past this many nodes (alias bombs); the data is
#: still validated, later problems just point at the nearest known node.
_MAX_NODES = 200_000


@dataclass(frozen=True, order=True)
class Position:
    line: int
    column: int

    @classmethod
    def of(cls, mark: yaml.Mark) -> Position:
        return cls(mark.line + 1, mark.column + 1)


@dataclass(frozen=True)
class Problem:
    """A message about a place in a file: ``FILE:LINE:COL: message``."""

    file: str
    line: int | None
    column: int | None
    message: str
    severity: str = "error"
    """``error``, or ``warning``: worth saying, but the file is valid."""

    @classmethod
    def at(
        cls, file: str, position: Position | None, message: str, severity: str = "error"
    ) -> Problem:
        if position is None:
            return cls(file, None, None, message, severity)
        return cls(file, position.line, position.column, message, severity)

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        prefix = "" if self.is_error else f"{self.severity}: "
        return f"{where}: {prefix}{self.message}"


@dataclass(frozen=True)
class NodeInfo:
    """Where one value was written."""

    value: Position
    key: Position | None
    """The key that names it, for a mapping value."""
    collection: bool
    """A mapping or a sequence (then :attr:`key` is the better place to point)."""
    text: str | None = None
    """A scalar's source text."""
    plain: bool = False
    """An unquoted scalar (YAML may have read it as a number or boolean)."""

    @property
    def anchor(self) -> Position:
        """Where to report a problem with the value as a whole."""
        if self.collection and self.key is not None:
            return self.key
        return self.value


@dataclass
class YamlDocument:
    """Parsed YAML: ``data``, plus positions. ``problems`` holds a syntax
    error (then ``data`` is ``None`` and :attr:`ok` false) or duplicate keys."""

    file: str
    data: Any = None
    nodes: dict[Location, NodeInfo] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    ok: bool = True

    def nearest(self, path: Location) -> tuple[Location, NodeInfo] | None:
        """The node at ``path``, or at its longest prefix that was written."""
        for end in range(len(path), -1, -1):
            info = self.nodes.get(path[:end])
            if info is not None:
                return path[:end], info
        return None

    def where(self, path: Location) -> Position | None:
        """Where to report a problem about the value at ``path``."""
        found = self.nearest(path)
        return found[1].anchor if found else None

    def key_position(self, path: Location) -> Position | None:
        """The key naming the value at ``path`` (an unknown key, say)."""
        info = self.nodes.get(path)
        if info is not None and info.key is not None:
            return info.key
        return self.where(path)


def load_yaml(text: str, file: str) -> YamlDocument:
    """Parse one YAML document. Never raises for bad input: see
    :attr:`YamlDocument.problems`."""
    if _FAST_LOADER is not None:
        doc = _load_yaml(text, file, _FAST_LOADER)
        if doc.ok:
            return doc
    return _load_yaml(text, file, yaml.SafeLoader)


def _load_yaml(text: str, file: str, loader_class: type[yaml.SafeLoader]) -> YamlDocument:
    doc = YamlDocument(file)
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return doc
        doc.problems.extend(_duplicate_keys(loader, root, file))
        doc.data = loader.construct_document(root)
        # After construction: merge keys (<<) are flattened into the mappings.
        _map_positions(loader, root, (), None, out=doc.nodes, active=set())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "syntax error"
        context = exc.context if exc.problem else None
        if context and problem.startswith("but "):
            message = f"invalid YAML: {context}, {problem}"
        else:
            message = f"invalid YAML: {problem}"
            if context and exc.context_mark and exc.problem_mark:
                message += f" ({context} at line {exc.context_mark.line + 1})"
        doc.problems = [Problem.at(file, Position.of(mark) if mark else None, message)]
        doc.data, doc.nodes, doc.ok = None, {}, False
    except yaml.YAMLError as exc:
        doc.problems = [Problem(file, None, None, f"invalid YAML: {exc}")]
        doc.data, doc.nodes, doc.ok = None, {}, False
    finally:
        loader.dispose()
    return doc


def _key_value(loader: yaml.SafeLoader, node: Node) -> Hashable:
    value = loader.construct_object(node, deep=True)
    try:
        hash(value)
    except TypeError:
        return f"<key at line {node.start_mark.line + 1}>"
    return value  # type: ignore[no-any-return]


def _children(node: Node) -> Iterator[Node]:
    if isinstance(node, MappingNode):
        for key, value in node.value:
            yield key
            yield value
    elif isinstance(node, SequenceNode):
        yield from node.value


def _duplicate_keys(loader: yaml.SafeLoader, root: Node, file: str) -> list[Problem]:
    problems: list[Problem] = []
    seen_nodes: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, MappingNode):
            first: dict[Hashable, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = _key_value(loader, key_node)
                line = key_node.start_mark.line + 1
                if key in first:
                    problems.append(
                        Problem.at(
                            file,
                            Position.of(key_node.start_mark),
                            f"duplicate key {key!r} (first at line {first[key]})",
                        )
                    )
                else:
                    first[key] = line
        stack.extend(_children(node))
    return problems


def _map_positions(
    loader: yaml.SafeLoader,
    node: Node,
    path: Location,
    key: Node | None,
    *,
    out: dict[Location, NodeInfo],
    active: set[int],
) -> None:
    if len(out) >= _MAX_NODES or id(node) in active:
        return  # too big, or a recursive alias
    scalar = node if isinstance(node, ScalarNode) else None
    out[path] = NodeInfo(
        value=Position.of(node.start_mark),
        key=Position.of(key.start_mark) if key is not None else None,
        collection=scalar is None,
        text=scalar.value if scalar is not None else None,
        plain=scalar is not None and not scalar.style,  # None, or "" from libyaml
    )
    active.add(id(node))
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            child = (*path, _key_value(loader, key_node))
            _map_positions(loader, value_node, child, key_node, out=out, active=active)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _map_positions(loader, item, (*path, index), None, out=out, active=active)
    active.discard(id(node))
