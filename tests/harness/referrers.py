"""A fake OCI 1.1 referrers API in front of a REAL registry.

distribution 2.8, the only registry here, has no referrers API (it answers
``GET /v2/<repo>/referrers/<digest>`` with 404), so this deliberate fake adds
just that, and only for the referrers-API path of hangard's attachments:

* a manifest ``PUT`` whose body has a ``subject`` is forwarded, and when the
  registry takes it, the answer gains ``OCI-Subject: <subject digest>`` and
  the manifest is listed as a referrer of its subject;
* ``GET /v2/<repo>/referrers/<digest>`` answers an OCI index of the
  referrers listed (with their ``artifactType``), 200 even when empty;
  with :attr:`FakeReferrers.page_size` set, in pages of that many, each but
  the last with ``Link: <…?page=N>; rel="next"`` (the OCI distribution
  spec's pagination); :attr:`FakeReferrers.next_link` replaces that link
  (a hostile registry pointing elsewhere).

Everything else reaches the registry unchanged (the Harbor fake's plumbing,
without its project rules). Every request is recorded (:meth:`requests`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.harness.faults import SeenRequest
from tests.harness.harbor import Answer, FakeHarbor

__all__ = ["FakeReferrers"]

_REFERRERS = re.compile(r"^/v2/(?P<repo>.+)/referrers/(?P<digest>sha256:[0-9a-f]{64})$")
_MANIFEST_PUT = re.compile(r"^/v2/(?P<repo>.+)/manifests/(?P<ref>[^/]+)$")
INDEX = "application/vnd.oci.image.index.v1+json"


class FakeReferrers(FakeHarbor):
    """The referrers API over the registry at ``upstream`` (``host:port``)."""

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream, users={})
        self.referrers: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.page_size: int | None = None
        """Referrers per page (``None``: all on one page)."""
        self.next_link: str | None = None
        """The ``rel="next"`` target every page sends instead of its own."""

    def _route(self, method: str, target: str, seen: SeenRequest, body: bytes) -> Answer:
        found = _REFERRERS.match(seen.path)
        if found and method == "GET":
            with self._lock:
                listed = list(self.referrers.get((found["repo"], found["digest"]), []))
            return self._page(seen, listed)
        status, headers, data = self._forward(method, target, seen, body)
        put = _MANIFEST_PUT.match(seen.path)
        if put and method == "PUT" and status == 201:
            subject = self._record(put["repo"], body, dict(headers))
            if subject:
                headers = [*headers, ("OCI-Subject", subject)]
        return status, headers, data

    def _page(self, seen: SeenRequest, listed: list[dict[str, Any]]) -> Answer:
        headers = [("Content-Type", INDEX)]
        size = self.page_size
        if size is not None:
            page = int((seen.query.get("page") or ["0"])[0])
            more = len(listed) > (page + 1) * size
            listed = listed[page * size : (page + 1) * size]
            link = self.next_link or (f"{seen.path}?page={page + 1}" if more else None)
            if link is not None:
                headers.append(("Link", f'<{link}>; rel="next"'))
        doc = {"schemaVersion": 2, "mediaType": INDEX, "manifests": listed}
        return 200, headers, json.dumps(doc).encode()

    def _record(self, repo: str, body: bytes, headers: dict[str, str]) -> str | None:
        try:
            doc = json.loads(body)
            subject = doc["subject"]["digest"]
        except (ValueError, KeyError, TypeError):
            return None
        entry = {
            "mediaType": doc.get("mediaType", "application/vnd.oci.image.manifest.v1+json"),
            "digest": headers.get("Docker-Content-Digest", ""),
            "size": len(body),
        }
        if doc.get("artifactType"):
            entry["artifactType"] = doc["artifactType"]
        with self._lock:
            self.referrers.setdefault((repo, subject), []).append(entry)
        return str(subject)
