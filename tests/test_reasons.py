"""One list of failure reasons: :class:`hangard.errors.Reason`.

Every error class maps to exactly one reason; that reason is what metrics,
log events, the state file and ``/status`` report; and the README, the alert
rules (and their promtool tests) and the dashboard mention no reason that
is not a member, while the README lists every member.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from structlog.testing import capture_logs

import hangard.errors as errors_module
from hangard.core.plan import Action, ActionKind, Observation, SyncItem, make_plan
from hangard.core.reference import parse_reference
from hangard.daemon.history import History
from hangard.daemon.metrics import Metrics
from hangard.errors import (
    ArchiveError,
    AuthError,
    AuthFileError,
    BlobTooLargeError,
    BodyTooLargeError,
    ConfigError,
    CredentialHelperError,
    CycleTimeoutError,
    DaemonUnreachableError,
    DigestMismatchError,
    ErrorContext,
    HangardError,
    HarborProjectError,
    InputError,
    InvalidManifestError,
    InvalidReferenceError,
    NotFoundError,
    OperationError,
    PruneRefusedError,
    RateLimitedError,
    Reason,
    RegistryError,
    ResponseError,
    Schema1ConversionError,
    ServerError,
    SignatureInvalidError,
    SignatureMissingError,
    TransportError,
    TransportTimeoutError,
    UnsupportedMediaTypeError,
)
from hangard.registry.client import RegistryClient
from hangard.sync.execution import ItemOutcome, ItemResult, execute
from tests.harness.registry import Registry
from tests.helpers_copy import ref

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RULES = ROOT / "deploy" / "prometheus" / "hangard-rules.yaml"
RULES_TEST = ROOT / "deploy" / "prometheus" / "hangard-rules.test.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "hangard-dashboard.json"

#: The labels as dashboards and alerts in the field know them: changing one
#: breaks someone's queries, so it must be a deliberate edit here too.
LABELS = [
    "not_found",
    "unauthorized",
    "rate_limited",
    "timeout",
    "network",
    "server_error",
    "digest_mismatch",
    "unsupported_media_type",
    "harbor_project",
    "signature_missing",
    "signature_invalid",
    "prune_refused",
    "other",
]


def test_the_labels_are_the_documented_ones() -> None:
    assert [r.value for r in Reason] == LABELS


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("timeout", Reason.TIMEOUT),
        (Reason.NETWORK, Reason.NETWORK),
        ("Timeout", Reason.OTHER),
        ("gremlins", Reason.OTHER),
        ("", Reason.OTHER),
        (None, Reason.OTHER),
        (3, Reason.OTHER),
    ],
)
def test_parse_falls_back_to_other(value: object, expected: Reason) -> None:
    assert Reason.parse(value) is expected


# --- error class -> reason ----------------------------------------------------

CLASS_REASONS: list[tuple[type[HangardError], Reason]] = [
    (HangardError, Reason.OTHER),
    (InputError, Reason.OTHER),
    (InvalidReferenceError, Reason.OTHER),
    (ArchiveError, Reason.OTHER),
    (ConfigError, Reason.OTHER),
    (AuthFileError, Reason.OTHER),
    (OperationError, Reason.OTHER),
    (RegistryError, Reason.OTHER),
    (TransportError, Reason.NETWORK),
    (TransportTimeoutError, Reason.TIMEOUT),
    (BodyTooLargeError, Reason.OTHER),
    (ResponseError, Reason.OTHER),
    (NotFoundError, Reason.NOT_FOUND),
    (AuthError, Reason.UNAUTHORIZED),
    (RateLimitedError, Reason.RATE_LIMITED),
    (ServerError, Reason.SERVER_ERROR),
    (HarborProjectError, Reason.HARBOR_PROJECT),
    (CredentialHelperError, Reason.OTHER),
    (DaemonUnreachableError, Reason.NETWORK),
    (DigestMismatchError, Reason.DIGEST_MISMATCH),
    (BlobTooLargeError, Reason.OTHER),
    (CycleTimeoutError, Reason.TIMEOUT),
    (InvalidManifestError, Reason.OTHER),
    (Schema1ConversionError, Reason.OTHER),
    (SignatureMissingError, Reason.SIGNATURE_MISSING),
    (SignatureInvalidError, Reason.SIGNATURE_INVALID),
    (PruneRefusedError, Reason.PRUNE_REFUSED),
    (UnsupportedMediaTypeError, Reason.UNSUPPORTED_MEDIA_TYPE),
]


def make(cls: type[HangardError]) -> HangardError:
    """An instance of ``cls``, whatever its constructor takes."""
    if cls is DigestMismatchError:
        return DigestMismatchError("sha256:aa", "sha256:bb")
    if cls is UnsupportedMediaTypeError:
        return UnsupportedMediaTypeError("text/plain", "reg/app:v1", ["a", "b"])
    return cls("it failed")


def error_classes() -> list[type[HangardError]]:
    return [
        obj
        for _, obj in inspect.getmembers(errors_module, inspect.isclass)
        if issubclass(obj, HangardError)
    ]


def test_the_table_covers_every_error_class() -> None:
    assert {cls for cls, _ in CLASS_REASONS} == set(error_classes())


def test_every_exception_class_in_hangard_is_in_errors_py() -> None:
    # private control-flow exceptions that never leave their module are
    # the only ones allowed elsewhere
    found = []
    for path in sorted((ROOT / "hangard").rglob("*.py")):
        if path.name == "errors.py" and path.parent.name == "hangard":
            continue
        for match in re.finditer(
            r"^class (\w+)\((\w*(?:Error|Exception))\)", path.read_text(), re.M
        ):
            if not match.group(1).startswith("_"):
                found.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
    assert found == []


@pytest.mark.parametrize(("cls", "reason"), CLASS_REASONS, ids=lambda v: getattr(v, "__name__", v))
def test_each_error_class_has_its_reason(cls: type[HangardError], reason: Reason) -> None:
    assert "reason" in vars(cls), f"{cls.__name__} must say its reason itself"
    assert cls.reason is reason
    error = make(cls)
    assert error.reason is reason and type(error.reason) is Reason
    # context travels outward without touching the reason, the class or the text
    wrapped = error.with_context(registry="reg", image="reg/app:v1", item="reg/app:v1 -> m")
    assert type(wrapped) is cls and wrapped.reason is reason
    assert wrapped.message == error.message
    assert str(wrapped).startswith(error.message)


def test_context_is_filled_in_outward_on_a_copy() -> None:
    try:
        raise NotFoundError("manifest unknown", ErrorContext(registry="reg", status=404))
    except NotFoundError as exc:
        original = exc
    with_image = original.with_context(image="reg/app:v1", registry="ignored")
    with_item = with_image.with_context(item="reg/app:v1 -> mirror", image="ignored")

    assert original.context == ErrorContext(registry="reg", status=404)
    assert with_image.context.registry == "reg"  # the inner layer knew best
    assert with_item.context == ErrorContext(
        item="reg/app:v1 -> mirror", image="reg/app:v1", registry="reg", status=404
    )
    assert str(with_item) == (
        "manifest unknown [item reg/app:v1 -> mirror, image reg/app:v1, registry reg, HTTP 404]"
    )
    assert with_item.with_context(image="other") is with_item  # nothing new: no copy
    assert with_item.status == 404 and with_item.__traceback__ is None


def test_with_context_keeps_the_cause_and_subclass_fields() -> None:
    cause = ValueError("bad bytes")
    try:
        raise DigestMismatchError("sha256:aa", "sha256:bb", what="blob") from cause
    except DigestMismatchError as exc:
        wrapped = exc.with_context(image="reg/app:v1")
    assert wrapped.__cause__ is cause
    assert (wrapped.expected, wrapped.actual) == ("sha256:aa", "sha256:bb")
    assert (
        str(wrapped) == "blob digest mismatch: expected sha256:aa, got sha256:bb [image reg/app:v1]"
    )


# --- reason -> metrics, logs, /status -------------------------------------------


def failure_samples(metrics: Metrics) -> dict[str, float]:
    (family,) = [m for m in metrics.failures.collect()]
    return {s.labels["reason"]: s.value for s in family.samples if s.name.endswith("_total")}


def test_the_metric_takes_every_reason_and_nothing_else() -> None:
    metrics = Metrics()
    for reason in Reason:
        metrics.count_failure("reg/app", "mirror", reason)
    assert failure_samples(metrics) == dict.fromkeys(LABELS, 1.0)
    with pytest.raises(ValueError, match="gremlins"):
        metrics.count_failure("reg/app", "mirror", "gremlins")  # type: ignore[arg-type]
    text = metrics.render().decode()
    assert (
        'hangard_copy_failures_total{image="reg/app",reason="timeout",target="mirror"} 1.0' in text
    )


async def test_a_failed_copy_reports_its_reason_everywhere(
    plain_registry: Registry, plain_registry2: Registry, client: RegistryClient
) -> None:
    src = ref(plain_registry, "ghost/app", "v9")  # never pushed
    item = SyncItem(
        str(src.repository), "v9", "mirror", src, ref(plain_registry2, "ghost/app", "v9")
    )
    plan = make_plan([item], {item.key: Observation("sha256:" + "1" * 64, None)})
    assert plan.actions[0].kind is ActionKind.COPY

    with capture_logs() as logs:
        report = await execute(client, plan)

    (result,) = report.results
    assert result.outcome is ItemOutcome.FAILED and result.reason is Reason.NOT_FOUND
    # the result names the item in its error's context, its text stays as it was
    assert result.failure is not None and result.failure.reason is Reason.NOT_FOUND
    assert result.failure.context.item == f"{item.image}:v9 -> mirror"
    assert result.failure.context.image == f"{src}@{plan.actions[0].source_digest}"
    assert result.error is not None and "item " not in result.error and str(src) in result.error
    (event,) = [e for e in logs if e["event"] == "item failed"]
    assert event["reason"] == "not_found" and event["target"] == "mirror"
    assert event["stage"] == "copy" and event["tag"] == "v9" and event["image"] == item.image
    assert event["message"] == result.failure.message and "hint" in event

    store = History(None)
    state = store.finished(result)
    assert state.last_error_reason is Reason.NOT_FOUND
    status = json.loads(json.dumps(store.status()))
    assert status["items"][0]["last_error_reason"] == "not_found"

    metrics = Metrics()
    metrics.count_failure(item.image, item.target, result.reason)
    assert failure_samples(metrics) == {"not_found": 1.0}


async def test_a_plan_error_reports_its_reason_and_names_the_item(client: RegistryClient) -> None:
    src = parse_reference("reg.invalid/app:v1")
    item = SyncItem(str(src.repository), "v1", "m", src, parse_reference("reg.invalid/m/app:v1"))
    refused = AuthError("denied", ErrorContext(registry="reg.invalid", status=401))
    plan = make_plan([item], {item.key: Observation(error=refused)})

    with capture_logs() as logs:
        (result,) = (await execute(client, plan)).results

    (event,) = [e for e in logs if e["event"] == "item failed"]
    assert (event["stage"], event["reason"], event["tag"]) == ("plan", "unauthorized", "v1")
    assert event["message"] == "denied" and event["log_level"] == "error"
    assert (result.outcome, result.reason, result.error) == (
        ItemOutcome.FAILED,
        Reason.UNAUTHORIZED,
        "denied [registry reg.invalid, HTTP 401]",
    )
    assert result.failure is not None and result.failure.context.item == "reg.invalid/app:v1 -> m"
    assert refused.context.item is None  # the observation's error is left alone


def test_an_error_action_without_an_error_is_other() -> None:
    src = parse_reference("reg.invalid/app:v1")
    item = SyncItem(str(src.repository), "v1", "m", src, src)
    assert Action(item, ActionKind.ERROR, "why").reason is Reason.OTHER
    assert Action(item, ActionKind.COPY, "missing").reason is None


# --- reason mentions in the docs and deploy files ---------------------------------

_MATCHER = re.compile(r'\breason\s*(=~|!~|!=|=)\s*"([^"]*)"')
#: "unauthorized: check …" — a runbook's advice per reason
_CLAUSE = re.compile(r"(?:^|[.;]\s+)([a-z][a-z_]*):\s")
#: "by reason (not_found, unauthorized, …)" — a list of every reason
_LISTED = re.compile(r"by reason \(([a-z_, ]+)\)")


def matcher_reasons(text: str) -> set[str]:
    """Reason label values in PromQL matchers (``reason=~"a|b"`` gives both)."""
    found: set[str] = set()
    for op, value in _MATCHER.findall(text):
        found |= set(value.split("|")) if op in ("=~", "!~") else {value}
    return found


def clause_reasons(text: str) -> set[str]:
    return set(_CLAUSE.findall(text))


def listed_reasons(text: str) -> list[list[str]]:
    return [[v.strip() for v in m.split(",")] for m in _LISTED.findall(text)]


def strings(doc: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a parsed YAML/JSON document, with the key it is under."""
    if isinstance(doc, str):
        yield key, doc
    elif isinstance(doc, dict):
        for name, value in doc.items():
            yield from strings(value, str(name))
    elif isinstance(doc, list):
        for value in doc:
            yield from strings(value, key)


def mentions(doc: Any) -> set[str]:
    """Reasons named in matchers, lists and (only in runbooks) advice clauses."""
    found: set[str] = set()
    for key, text in strings(doc):
        found |= matcher_reasons(text)
        found |= {r for listed in listed_reasons(text) for r in listed}
        if key == "runbook":
            found |= clause_reasons(text)
    return found


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('sum(rate(hangard_copy_failures_total{reason="network"}[5m]))', {"network"}),
        ('x{reason=~"timeout|netwrok"}', {"timeout", "netwrok"}),
        (
            "in the log. unauthorized: check the creds; notfound: fix it.",
            {"unauthorized", "notfound"},
        ),
        ("by reason (not_found, gremlins).", {"not_found", "gremlins"}),
        ("Look at sum by (reason) (rate(x[30m])), and the log.", set()),
    ],
)
def test_mentions_are_found(text: str, found: set[str]) -> None:
    # the checks below can fail: a misspelt reason is seen
    assert mentions({"runbook": [text]}) == found


def readme_reason_table() -> list[str]:
    section = README.read_text().split("### Failure reasons", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return [re.match(r"\| `([^`]+)`", row).group(1) for row in rows]  # type: ignore[union-attr]


def test_the_readme_table_lists_every_reason_once_in_order() -> None:
    assert readme_reason_table() == LABELS


def test_the_readme_metric_row_lists_every_reason() -> None:
    (row,) = [
        line
        for line in README.read_text().splitlines()
        if line.startswith("| `hangard_copy_failures_total`")
    ]
    listed = row.split("reason:", 1)[1].strip(" |").split(", ")
    assert listed == LABELS


@pytest.mark.parametrize("path", [RULES, RULES_TEST], ids=lambda p: p.name)
def test_alert_rules_mention_only_reasons(path: Path) -> None:
    found = mentions(yaml.safe_load(path.read_text()))
    assert found, "the runbooks give advice per reason; the parser found none"
    assert found <= set(LABELS)


def test_the_dashboard_mentions_only_reasons_and_lists_them_all() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert mentions(dashboard) <= set(LABELS)
    lists = [listed for _, text in strings(dashboard) for listed in listed_reasons(text)]
    assert lists == [LABELS]


def test_the_tree_in_the_errors_docstring_is_the_real_one() -> None:
    doc = errors_module.__doc__ or ""
    drawn: dict[str, tuple[int, str]] = {}
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        match = re.match(r"^(    [ │├└─]*)(\w+Error)\s+(\w+)", line)
        if not match:
            continue
        depth, name, reason = len(match.group(1)), match.group(2), match.group(3)
        drawn[name] = (depth, reason)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[name] = stack[-1][1]
        stack.append((depth, name))
    classes = {cls.__name__: cls for cls in error_classes()}
    assert set(drawn) == set(classes)
    assert set(parents) == set(drawn) - {"HangardError"}
    for name, (_, reason) in drawn.items():
        assert classes[name].reason.value == reason, name
    for name, parent in parents.items():
        assert classes[name].__bases__ == (classes[parent],), name


def test_an_item_result_derives_its_error_and_reason_from_its_failure() -> None:
    """ItemResult has one source of truth: ``failure``. Its text without the
    item (``error``) and its reason come from it, not from separate fields."""
    src = parse_reference("reg.invalid/app:v1")
    item = SyncItem(str(src.repository), "v1", "m", src, parse_reference("reg.invalid/m/app:v1"))
    refused = AuthError("denied", ErrorContext(registry="reg.invalid", status=401))
    (act,) = make_plan([item], {item.key: Observation(error=refused)}).actions
    result = ItemResult(act, ItemOutcome.FAILED, failure=refused.with_context(item="x -> m"))
    assert result.reason is Reason.UNAUTHORIZED
    assert result.error == "denied [registry reg.invalid, HTTP 401]"
    assert ItemResult(act, ItemOutcome.FAILED).reason is Reason.OTHER
    ok = ItemResult(act, ItemOutcome.IN_SYNC)
    assert (ok.reason, ok.error) == (None, None)
