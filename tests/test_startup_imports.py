"""What a small ``hangard sync --once`` loads: cron jobs and CI checks run it
for a handful of images, where start-up is most of the run. The command must
not import what it does not use (rich's tracebacks through structlog,
prometheus, the scheduler, the archive code, ...).
``--version`` has its own test in test_cli.py."""

from __future__ import annotations

import json
from pathlib import Path

from tests.harness import images
from tests.harness.registry import Registry
from tests.helpers_cli import Hangard

#: Modules (and their submodules) a registry-to-registry ``sync --once``
#: without cron schedules or semver rules has no use for.
UNUSED = (
    "rich",
    "pygments",
    "prometheus_client",
    "apscheduler",
    "semantic_version",
    "watchfiles",
    "tarfile",
    "cryptography",  # only verify keys and signature policies use it
    "hangard.daemon",
    "hangard.archive",
    "hangard.stores.archive",
)


def test_a_one_image_sync_once_loads_only_what_it_uses(
    hangard: Hangard, plain_registry: Registry, plain_registry2: Registry, tmp_path: Path
) -> None:
    images.push_image(plain_registry, "one/app", images.build_image(3), "v1")
    config = tmp_path / "hangard.yaml"
    config.write_text(
        json.dumps(
            {
                "registries": {
                    plain_registry.host: {"http": True},
                    plain_registry2.host: {"http": True},
                },
                "defaults": {"targets": ["t"]},
                "targets": {"t": {"registry": plain_registry2.host, "prefix": "m"}},
                "images": [{"source": f"{plain_registry.host}/one/app", "tags": ["v1"]}],
            }
        )
    )
    sync = ("sync", "--once", str(config), "--no-progress")

    cold_run, cold = hangard.loaded(*sync)
    warm_run, warm = hangard.loaded(*sync)

    assert cold_run.code == 0 and warm_run.code == 0, cold_run.err + warm_run.err
    assert "1 copied" in cold_run.out and "1 in sync" in warm_run.out
    assert "hangard.sync" in warm  # the command did run in this process
    for loaded in (cold, warm):
        unused = sorted(m for m in loaded if m.split(".")[0] in UNUSED or m.startswith(UNUSED))
        assert unused == []
