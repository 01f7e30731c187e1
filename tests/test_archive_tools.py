"""``hangard archive merge|export|diff`` and split archives (``save
--part-size``) through save, ls, verify and load, in subprocesses against
real registries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.harness import images, skopeo
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard

pytestmark = pytest.mark.usefixtures("tmp_authfile")


def names(hangard: Hangard, archive: Path) -> dict[str, str]:
    run = hangard("archive", "ls", str(archive), "-o", "json")
    assert run.code == 0, run.err
    return {f"{r['source']}:{r['tag']}": r["digest"] for r in json.loads(run.out)["images"]}


def test_merge_export_and_diff(
    hangard: Hangard, plain_registry: Registry, plain_registry2: Registry, tmp_path: Path
) -> None:
    src, dst = plain_registry, plain_registry2
    a = images.push_oci_index(src, "a", "1", seed=71)
    b = images.push_oci_image(src, "b", "1", seed=72)
    first, second, merged = tmp_path / "a.zip", tmp_path / "b.zip", tmp_path / "m.zip"
    assert hangard("save", f"{src.host}/a:1", "-o", str(first), "--plain-http").code == 0
    assert hangard("save", f"{src.host}/b:1", "-o", str(second), "--plain-http").code == 0

    done = hangard("archive", "merge", str(first), str(second), "-o", str(merged))
    assert done.code == 0, done.err
    assert names(hangard, merged) == {f"{src.host}/a:1": a.digest, f"{src.host}/b:1": b.digest}
    assert hangard("archive", "verify", str(merged)).code == 0
    refused = hangard("archive", "merge", str(first), "-o", str(merged))
    assert refused.code == 2 and "exists" in refused.err

    listing = tmp_path / "l.txt"
    listing.write_text(f"{src.host}/b:1\n")
    sub = tmp_path / "sub.zip"
    exported = hangard("archive", "export", str(merged), "--list", str(listing), "-o", str(sub))
    assert exported.code == 0, exported.err
    assert names(hangard, sub) == {f"{src.host}/b:1": b.digest}
    listing.write_text(f"{src.host}/c:1\n")
    lacking = hangard(
        "archive", "export", str(merged), "--list", str(listing), "-o", str(tmp_path / "x.zip")
    )
    assert lacking.code == 1 and "is not in" in lacking.err

    images.push_oci_image(dst, "m/b", "1", seed=73)  # another digest there
    diffed = hangard("archive", "diff", str(merged), "--against", f"{dst.host}/m", "--plain-http")
    assert diffed.code == 2, diffed.err
    assert f"missing   {src.host}/a:1 -> {dst.host}/m/a:1" in diffed.out
    assert f"different {src.host}/b:1 -> {dst.host}/m/b:1" in diffed.out
    loaded = hangard("load", str(merged), "--to", f"{dst.host}/m", "--plain-http", "--overwrite")
    assert loaded.code == 0, loaded.err
    same = hangard("archive", "diff", str(merged), "--against", f"{dst.host}/m", "--plain-http")
    assert same.code == 0 and same.out.count("present") == 2, same.out


def test_split_parts_through_save_ls_verify_and_load(
    hangard: Hangard, plain_registry: Registry, plain_registry2: Registry, tmp_path: Path
) -> None:
    src, dst = plain_registry, plain_registry2
    index = images.push_oci_image(src, "big", "1", seed=74, file_size=100_000, layer_count=3)
    archive = tmp_path / "parts.zip"
    saved = hangard(
        "save", f"{src.host}/big:1", "-o", str(archive), "--plain-http", "--part-size", "256KiB"
    )
    assert saved.code == 0, saved.err
    parts = sorted(tmp_path.glob("parts.zip.*"))
    assert len(parts) >= 2 and not archive.exists()
    assert all(p.stat().st_size <= 256 << 10 for p in parts)
    first = parts[0]
    assert first.name == "parts.zip.001"
    assert names(hangard, first) == {f"{src.host}/big:1": index.digest}
    assert hangard("archive", "verify", str(first)).code == 0
    loaded = hangard("load", str(first), "--to", dst.host, "--plain-http")
    assert loaded.code == 0, loaded.err
    assert skopeo.inspect_raw(dst, "big", "1") == index.manifest
    whole = tmp_path / "whole.zip"
    whole.write_bytes(b"".join(p.read_bytes() for p in parts))
    assert names(hangard, whole) == {f"{src.host}/big:1": index.digest}


def test_merge_of_a_name_with_two_digests_is_a_clash_unless_prefer_says_which(
    hangard: Hangard, plain_registry: Registry, tmp_path: Path
) -> None:
    """The same source and tag with different digests in two inputs: without
    --prefer, a CLASH line naming the image and both digests, exit 1 and no
    output; --prefer first|last keeps that input's image, with a warning.
    A name held twice with one digest is no clash."""
    src = plain_registry
    shared = images.push_oci_image(src, "same", "1", seed=81)
    old = images.push_oci_image(src, "app", "1", seed=82)
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    both = [f"{src.host}/same:1", f"{src.host}/app:1"]
    assert hangard("save", *both, "-o", str(first), "--plain-http").code == 0
    new = images.push_oci_image(src, "app", "1", seed=83)  # the tag moved
    assert hangard("save", *both, "-o", str(second), "--plain-http").code == 0
    app = f"{src.host}/app:1"

    clash = hangard("archive", "merge", str(first), str(second), "-o", str(tmp_path / "c.zip"))
    assert clash.code == 1, clash.err
    line = f"CLASH {app}: {first} has {old.digest}, {second} has {new.digest}"
    assert line in clash.err.splitlines(), clash.err
    assert "--prefer first|last" in clash.err and "same:1" not in clash.err
    assert not (tmp_path / "c.zip").exists() and not (tmp_path / "c.zip.partial").exists()

    for prefer, kept, path in (("first", old, first), ("last", new, second)):
        out = tmp_path / f"{prefer}.zip"
        run = hangard(
            "archive", "merge", str(first), str(second), "-o", str(out), "--prefer", prefer
        )
        assert run.code == 0, run.err
        assert f"warning {app}:" in run.err and f"taking {path}'s (--prefer {prefer})" in run.err
        assert old.digest in run.err and new.digest in run.err
        assert names(hangard, out) == {f"{src.host}/same:1": shared.digest, app: kept.digest}
        assert hangard("archive", "verify", str(out)).code == 0


def test_diff_of_a_hangar_made_multi_platform_entry_compares_each_platform(
    hangard: Hangard, plain_registry: Registry, tmp_path: Path
) -> None:
    """Hangar keeps no index blob, so its multi-platform entry has no digest
    to compare with the tag's: diff checks each platform manifest at the
    target instead, and says the index digest is rebuilt at load."""
    from tests.test_stores_archive import hangar_made

    dst = plain_registry
    index = images.build_index(25)
    archive = tmp_path / "hangar.zip"
    hangar_made(archive, [("docker.io/library/multi", "1.0", index)])
    against = ["--against", f"{dst.host}/m", "--plain-http"]
    dest = f"{dst.host}/m/library/multi:1.0"

    before = hangard("archive", "diff", str(archive), *against)
    assert before.code == 2 and f"missing   docker.io/library/multi:1.0 -> {dest}" in before.out

    wanted = index.children[0]
    assert wanted.platform is not None
    platform = f"{wanted.platform['os']}/{wanted.platform['architecture']}"
    subset = hangard(
        "load", str(archive), "--to", f"{dst.host}/m", "--plain-http", "--platform", platform
    )
    assert subset.code == 0, subset.err
    partly = hangard("archive", "diff", str(archive), *against)
    assert partly.code == 2, partly.out
    lacking = [c.digest for c in index.children[1:]]
    line = (
        f"different docker.io/library/multi:1.0 -> {dest}: lacks {len(lacking)} of "
        f"{len(index.children)} platform manifests: {', '.join(lacking)}; "
        "the index digest is rebuilt at load (a Hangar multi-platform entry)"
    )
    assert line in partly.out.splitlines(), partly.out

    whole = hangard("load", str(archive), "--to", f"{dst.host}/m", "--plain-http", "--overwrite")
    assert whole.code == 0, whole.err
    after = hangard("archive", "diff", str(archive), *against)
    assert after.code == 0, after.out
    assert f"all {len(index.children)} platform manifests present; the index digest" in after.out
    assert "unknown" not in after.out
