"""Human-readable text for manifests and copy results. Pure string building."""

from __future__ import annotations

import json

from hangard.copy.engine import CopyResult
from hangard.core.manifest import Manifest

__all__ = ["human_size", "render_copy_result", "render_manifest", "result_json"]


def human_size(n: int) -> str:
    """``1.5 MiB``: one decimal, in the largest unit that shows at most
    ``1023.9`` (so just under 1 MiB reads ``1.0 MiB``, not ``1024.0 KiB``)."""
    if n < 0:
        return "?"
    if n < 1024:
        return f"{n} B"
    size = n / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if round(size, 1) < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def render_manifest(name: str, manifest: Manifest) -> str:
    lines = [
        f"Name:       {name}",
        f"Digest:     {manifest.digest}",
        f"MediaType:  {manifest.media_type}",
        f"Size:       {len(manifest.raw)} bytes",
    ]
    if manifest.is_index:
        children = manifest.children
        lines.append(f"Manifests:  {len(children)}")
        for d in children:
            label = str(d.platform) if d.platform else "-"
            if d.attests:
                label = f"attestation for {d.attests[:19]}…"
            lines.append(f"  {label:<24} {d.digest}  {human_size(d.size)}")
        return "\n".join(lines)
    if manifest.config:
        lines.append(f"Config:     {manifest.config.digest}  {human_size(manifest.config.size)}")
    layers = manifest.layers
    lines.append(f"Layers:     {len(layers)}  (total {human_size(manifest.total_size)})")
    for d in layers:
        lines.append(f"  {d.digest}  {human_size(d.size)}  {d.media_type}")
    if manifest.is_schema1:
        lines.append(f"Tag:        {manifest.doc.get('tag', '')}")
        lines.append(f"Arch:       {manifest.doc.get('architecture', '')}")
    return "\n".join(lines)


def render_copy_result(result: CopyResult) -> str:
    if result.skipped:
        return f"skipped {result.source}: {result.skipped}"
    if result.up_to_date:
        return f"up to date: {result.target} is already {result.target_digest}"
    lines = [f"copied {result.source} -> {result.target}"]
    lines.append(f"  digest:    {result.target_digest}")
    if not result.digest_preserved:
        why = (
            f"converted from {result.converted_from}"
            if result.converted_from
            else "platform subset written as a new index"
        )
        lines.append(f"  source:    {result.source_digest} ({why})")
    if result.platforms:
        lines.append(f"  platforms: {', '.join(result.platforms)}")
    lines.append(
        f"  blobs:     {result.blobs_copied} copied, {result.blobs_mounted} mounted, "
        f"{result.blobs_present} already present; {human_size(result.bytes_moved)} moved "
        f"in {result.duration:.2f}s"
    )
    return "\n".join(lines)


def result_json(result: CopyResult, attachments: list[str] | None = None) -> str:
    doc = result.as_dict()
    if attachments is not None:
        doc["attachments"] = attachments
    return json.dumps(doc, sort_keys=True)
