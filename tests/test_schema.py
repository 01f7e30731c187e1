"""The desired-state file's JSON Schema (:mod:`hangard.config.schema`):
``hangard schema`` prints it, ``config/hangard.schema.json`` is the same
text, the example config names it for editors and passes it, and it refuses
what an editor should flag (unknown keys, a ``/``-wrapped prefix)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from hangard.config import check_config
from hangard.config.schema import DIALECT, desired_state_schema, schema_text
from hangard.core.desired import DesiredState
from tests.helpers_cli import Hangard

CONFIG = Path(__file__).resolve().parent.parent / "config"
SHIPPED = CONFIG / "hangard.schema.json"
EXAMPLE = CONFIG / "hangard.example.yaml"
MODELINE = "# yaml-language-server: $schema="


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SHIPPED.read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def errors(validator: Draft202012Validator, doc: Any) -> list[str]:
    return sorted(e.message for e in validator.iter_errors(doc))


def test_the_shipped_schema_is_the_generated_one() -> None:
    assert SHIPPED.read_text() == schema_text(), (
        "config/hangard.schema.json is stale: run `hangard schema > config/hangard.schema.json`"
    )


def test_hangard_schema_prints_it(hangard: Hangard) -> None:
    proc = hangard("schema")

    assert proc.code == 0, proc.err
    assert proc.out == schema_text()
    assert json.loads(proc.out)["$schema"] == DIALECT


def test_the_example_names_the_schema_on_its_first_line() -> None:
    first = EXAMPLE.read_text().splitlines()[0]

    assert first.startswith(MODELINE)
    assert (EXAMPLE.parent / first.removeprefix(MODELINE)).resolve() == SHIPPED


def test_the_example_validates_against_the_schema(validator: Draft202012Validator) -> None:
    doc = yaml.safe_load(EXAMPLE.read_text())

    assert errors(validator, doc) == []
    assert [p for p in check_config(EXAMPLE).problems if p.is_error] == []  # and hangard agrees


def test_field_docstrings_are_their_descriptions() -> None:
    """Read from the models' source when the schema is written, not by
    pydantic at every start (hangard.core.registry_settings.StrictModel)."""
    defs = desired_state_schema()["$defs"]
    registry = defs["RegistrySettings"]["properties"]

    assert registry["ca_file"]["description"] == "A PEM bundle of CAs to trust beside the system's."
    assert "description" not in registry["tls_verify"]  # it has no docstring
    assert defs["ImageEntry"]["properties"]["tags"]["description"].startswith("Explicit tags")
    assert DesiredState.model_fields["registries"].description is None  # none parsed at import


def test_the_schema_has_no_loader_internals() -> None:
    text = json.dumps(desired_state_schema())

    assert '"lines"' not in text and "ListLine" not in text


MINIMAL: dict[str, Any] = {
    "targets": {"m": {"registry": "mirror.example.com", "prefix": "hub"}},
    "images": [
        {"source": "nginx", "tags": ["1.27"], "targets": ["m"]},
        {"source": "alpine", "tags": {"semver": ">=3.18", "latest": 2}},
        {"list": "lists/images.txt"},
    ],
}


def test_a_minimal_file_passes(validator: Draft202012Validator) -> None:
    assert errors(validator, MINIMAL) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"targets": {"m": {"registry": "r.example.com", "prefx": "hub"}}},
            "'prefx' was unexpected",
        ),
        ({"targets": {"m": {"registry": "r.example.com", "prefix": "/mirror/"}}}, "does not match"),
        ({"registries": {"r.example.com": {"password": "x"}}}, "'password' was unexpected"),
        ({"registries": {"r.example.com": {"max_concurrency": 0}}}, "less than the minimum"),
        ({"images": [{"source": "nginx", "tags": {"latest": 0}}]}, "is not valid under any"),
        ({"version": 2}, "1 was expected"),
    ],
)
def test_the_schema_flags_what_an_editor_should(
    validator: Draft202012Validator, change: dict[str, Any], expected: str
) -> None:
    found = errors(validator, {**MINIMAL, **change})

    assert len(found) == 1 and expected in found[0], found
