"""Hangar-format zip archives as a whole: ``save``, ``load`` and the
``archive`` subcommands (ls, verify, merge, export, diff). One concept per
module; what to save and where to load are pure decisions
(:mod:`~hangard.archive.sources`, :mod:`~hangard.archive.destinations`), the
I/O goes through the copier and the archive store."""

from hangard.archive.destinations import LoadItem, destination_for, parse_to, select, with_project
from hangard.archive.sizes import parse_size
from hangard.archive.sources import SaveItem, from_desired, from_lines, from_references

__all__ = [
    "LoadItem",
    "SaveItem",
    "destination_for",
    "from_desired",
    "from_lines",
    "from_references",
    "parse_size",
    "parse_to",
    "select",
    "with_project",
]
