"""skopeo CLI wrappers for cross-checks against a :class:`Registry`.

skopeo runs with a private ``HOME``, ``XDG_RUNTIME_DIR``, empty
``REGISTRY_AUTH_FILE``/``--authfile``, empty ``registries.conf`` and
``registries.d``, ``--insecure-policy`` and a timeout, so it never reads the
real user's configuration or credentials.

* ``inspect_raw(registry, repo, ref) -> bytes`` - ``skopeo inspect --raw``;
* ``inspect(registry, repo, ref) -> dict`` - ``skopeo inspect`` (JSON);
* ``list_tags(registry, repo) -> list[str]``;
* ``copy_to_dir(registry, repo, ref, dest_dir, all=True, preserve_digests=True)``;
* ``copy(src, src_repo, src_ref, dst, dst_repo, dst_ref, all=True, preserve_digests=True)``
  - registry to registry;
* ``run_skopeo(args, timeout) -> CompletedProcess`` - anything else.

``ref`` is a tag or a ``sha256:...`` digest.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.harness.registry import Registry

SKOPEO = shutil.which("skopeo") or "/usr/bin/skopeo"
DEFAULT_TIMEOUT = 120.0


class SkopeoError(RuntimeError):
    """skopeo exited non-zero."""


def image_ref(registry: Registry, repo: str, ref: str) -> str:
    """``docker://HOST/REPO:TAG`` or ``docker://HOST/REPO@sha256:...``."""
    sep = "@" if ":" in ref else ":"
    return f"docker://{registry.host}/{repo}{sep}{ref}"


def _registry_flags(registry: Registry, prefix: str, workdir: Path) -> list[str]:
    """TLS / credential flags; ``prefix`` is "", "src-" or "dest-"."""
    flags: list[str] = []
    if registry.scheme == "http":
        flags.append(f"--{prefix}tls-verify=false")
    else:
        certs = workdir / f"certs-{prefix or 'default'}{registry.port}"
        certs.mkdir(exist_ok=True)
        assert registry.ca_file is not None
        shutil.copyfile(registry.ca_file, certs / "ca.crt")
        flags += [f"--{prefix}tls-verify=true", f"--{prefix}cert-dir", str(certs)]
    if registry.username is not None and registry.password is not None:
        flags += [f"--{prefix}creds", f"{registry.username}:{registry.password}"]
    else:
        flags.append(f"--{prefix}no-creds")
    return flags


def run_skopeo(
    args: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    workdir: Path | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``skopeo --insecure-policy ARGS`` in an isolated environment."""
    with tempfile.TemporaryDirectory(prefix="skopeo-env-") as env_tmp:
        env_dir = Path(env_tmp)
        return _run(args, env_dir, timeout=timeout, check=check, workdir=workdir)


def _run(
    args: Sequence[str],
    env_dir: Path,
    *,
    timeout: float,
    check: bool,
    workdir: Path | None = None,
) -> subprocess.CompletedProcess[bytes]:
    home = env_dir / "home"
    run = env_dir / "run"
    regd = env_dir / "registries.d"
    for d in (home, run, regd):
        d.mkdir(exist_ok=True)
    run.chmod(0o700)
    authfile = env_dir / "auth.json"
    authfile.write_text('{"auths": {}}')
    regconf = env_dir / "registries.conf"
    regconf.write_text("unqualified-search-registries = []\n")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(run),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "REGISTRY_AUTH_FILE": str(authfile),
        "DOCKER_CONFIG": str(home / ".docker"),
        "CONTAINERS_REGISTRIES_CONF": str(regconf),
        "TMPDIR": str(env_dir),
    }
    cmd = [
        SKOPEO,
        "--insecure-policy",
        "--registries.d",
        str(regd),
        "--tmpdir",
        str(env_dir),
        *args,
    ]
    proc = subprocess.run(
        cmd,
        env=env,
        cwd=workdir or env_dir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise SkopeoError(
            f"{' '.join(cmd)} -> {proc.returncode}\n{proc.stderr.decode(errors='replace')}"
        )
    return proc


def _with_env(args_for: Any, timeout: float) -> subprocess.CompletedProcess[bytes]:
    with tempfile.TemporaryDirectory(prefix="skopeo-env-") as env_tmp:
        env_dir = Path(env_tmp)
        return _run(args_for(env_dir), env_dir, timeout=timeout, check=True)


def inspect_raw(
    registry: Registry, repo: str, ref: str, *, timeout: float = DEFAULT_TIMEOUT
) -> bytes:
    """The manifest bytes exactly as skopeo receives them."""
    return _with_env(
        lambda d: [
            "inspect",
            "--raw",
            *_registry_flags(registry, "", d),
            image_ref(registry, repo, ref),
        ],
        timeout,
    ).stdout


def inspect(
    registry: Registry,
    repo: str,
    ref: str,
    *extra: str,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, Any]:
    """``skopeo [EXTRA] inspect`` output as JSON (for a list: the host
    platform's image, or the one ``--override-*`` in ``extra`` picks)."""
    out = _with_env(
        lambda d: [
            *extra,
            "inspect",
            *_registry_flags(registry, "", d),
            image_ref(registry, repo, ref),
        ],
        timeout,
    ).stdout
    return dict(json.loads(out))


def list_tags(registry: Registry, repo: str, *, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
    """``skopeo list-tags`` tags."""
    out = _with_env(
        lambda d: [
            "list-tags",
            *_registry_flags(registry, "", d),
            f"docker://{registry.host}/{repo}",
        ],
        timeout,
    ).stdout
    return list(json.loads(out)["Tags"])


def copy_to_dir(
    registry: Registry,
    repo: str,
    ref: str,
    dest_dir: Path | str,
    all: bool = True,
    *,
    preserve_digests: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """``skopeo copy [--all] docker://... dir:DEST``; returns ``dest_dir``."""
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    _with_env(
        lambda d: [
            "copy",
            *(["--all"] if all else []),
            *(["--preserve-digests"] if preserve_digests else []),
            *_registry_flags(registry, "src-", d),
            image_ref(registry, repo, ref),
            f"dir:{dest}",
        ],
        timeout,
    )
    return dest


def copy(
    src: Registry,
    src_repo: str,
    src_ref: str,
    dst: Registry,
    dst_repo: str,
    dst_ref: str,
    all: bool = True,
    *,
    preserve_digests: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Registry-to-registry ``skopeo copy``."""
    _with_env(
        lambda d: [
            "copy",
            *(["--all"] if all else []),
            *(["--preserve-digests"] if preserve_digests else []),
            *_registry_flags(src, "src-", d),
            *_registry_flags(dst, "dest-", d),
            image_ref(src, src_repo, src_ref),
            image_ref(dst, dst_repo, dst_ref),
        ],
        timeout,
    )
