"""Loading and validating desired-state files (hangard.config.loader) and
turning them into registry-client settings (hangard.config.registries).

Real files in ``tmp_path``; every problem is asserted as the exact
``FILE:LINE:COL: message`` line a user sees.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import hangard.config
from hangard.config import (
    check_config,
    client_options,
    credential_store,
    load_config,
    ratelimit_floors,
    registry_hosts,
)
from hangard.core.desired import ImageEntry, ListEntry, ListLine
from hangard.errors import ConfigError
from hangard.registry.options import RegistryOptions

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "config" / "hangard.example.yaml"

# Lines 1-4 of most cases; images start on line 5.
HEAD = """\
targets:
  mirror: {registry: reg.example.com}
defaults:
  targets: [mirror]
"""

DIGEST = "sha256:" + "a" * 64


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def problems(
    path: Path, *, check_secrets: bool = False, environ: dict[str, str] | None = None
) -> list[str]:
    """The problems, file names relative to the config file's directory."""
    prefix = f"{path.parent}{os.sep}"
    found = check_config(path, check_secrets=check_secrets, environ=environ).problems
    return [str(p).removeprefix(prefix) for p in found]


def test_public_api_is_flat_and_sorted() -> None:
    assert hangard.config.__all__ == sorted(hangard.config.__all__)
    for name in hangard.config.__all__:
        assert hasattr(hangard.config, name)


# -- the example --------------------------------------------------------------


def test_example_file_is_valid() -> None:
    found = check_config(EXAMPLE).problems
    assert [str(p) for p in found if p.is_error] == []  # its secrets' variables may be unset


def test_example_file_loads_with_list_lines_and_absolute_paths() -> None:
    loaded = load_config(EXAMPLE)
    assert loaded.path == EXAMPLE
    list_file = REPO / "config" / "lists" / "example-images.txt"
    assert loaded.files == [EXAMPLE, list_file]
    assert loaded.source_text_digest.startswith("sha256:")
    lists = [e for e in loaded.state.images if isinstance(e, ListEntry)]
    assert len(lists) == 1
    assert lists[0].list_file == str(list_file)
    assert len(lists[0].lines) == 6
    assert (
        ListLine(
            line=21, source="docker.io/library/traefik", tag="v3.1", destination="proxy/traefik"
        )
        in lists[0].lines
    )
    assert loaded.summary() == "2 targets, 8 image entries (1 list file, 6 list lines)"


# -- one mistake each ---------------------------------------------------------

CASES = [
    pytest.param(
        "targets:\n  mirror: {registry: reg.example.com\nimages: []\n",
        [
            "c.yaml:3:7: invalid YAML: expected ',' or '}', but got ':' "
            "(while parsing a flow mapping at line 2)"
        ],
        id="yaml-syntax",
    ),
    pytest.param(
        HEAD + "imagez: []\n",
        ["c.yaml:5:1: unknown key 'imagez'; did you mean 'images'?"],
        id="unknown-key-top-level",
    ),
    pytest.param(
        HEAD + "images:\n  - source: nginx\n    tags: ['1']\n    platfroms: [linux/amd64]\n",
        ["c.yaml:8:5: unknown key 'platfroms'; did you mean 'platforms'?"],
        id="unknown-key-nested",
    ),
    pytest.param(
        HEAD + "images:\n  - source: nginx\n    tags:\n      includ: ['1.*']\n",
        ["c.yaml:8:7: unknown key 'includ'; did you mean 'include'?"],
        id="unknown-key-in-tag-rules",
    ),
    pytest.param(
        HEAD + "registries:\n  quay.io:\n    colour: blue\n",
        [
            "c.yaml:7:5: unknown key 'colour' (expected one of: credentials, tls_verify, "
            "ca_file, cert_dir, client_cert, client_key, http, max_concurrency, requests_per_second, ratelimit_floor, timeout, "
            "retry_times, retry_delay, harbor)"
        ],
        id="unknown-key-no-suggestion",
    ),
    pytest.param(
        HEAD + "registries:\n  quay.io:\n    harbor: {create_projects: maybe}\n",
        ["c.yaml:7:31: expected auto, true or false, got 'maybe'"],
        id="harbor-create-projects",
    ),
    pytest.param(
        HEAD
        + "registries:\n  quay.io:\n    harbor:\n      public: 3\n      creat_projects: true\n",
        [
            "c.yaml:8:15: expected true or false, got the number 3",
            "c.yaml:9:7: unknown key 'creat_projects'; did you mean 'create_projects'?",
        ],
        id="harbor-public-and-typo",
    ),
    pytest.param(
        HEAD + "registries:\n  quay.io:\n    max_concurrency: many\n",
        ["c.yaml:7:22: expected an integer, got 'many'"],
        id="wrong-type",
    ),
    pytest.param(
        HEAD + "images:\n  - source: nginx\n    tags: [1.20]\n",
        ['c.yaml:7:12: expected a string, but YAML reads 1.20 as the number 1.2; quote it: "1.20"'],
        id="unquoted-version-tag",
    ),
    pytest.param(
        HEAD + "images:\n  - source: library/Nginx\n    tags: ['1']\n",
        ["c.yaml:6:13: invalid image reference 'library/Nginx': repository name must be lowercase"],
        id="bad-image-reference",
    ),
    pytest.param(
        HEAD + "images:\n  - source: nginx:1.27\n    tags: ['1']\n",
        [
            "c.yaml:6:13: source 'nginx:1.27' must be a repository without tag or digest; "
            "put tags in 'tags'"
        ],
        id="source-with-tag",
    ),
    pytest.param(
        HEAD + "images:\n  - source: nginx\n    tags:\n      include: ['1\\.2\\d', '1.(']\n",
        ["c.yaml:8:27: bad regex '1.(': missing ), unterminated subpattern at position 2"],
        id="bad-regex",
    ),
    pytest.param(
        HEAD + "images:\n  - source: nginx\n    tags: {semver: '>=>1'}\n",
        ["c.yaml:7:20: bad semver range '>=>1': Invalid NPM block in '>=>1': '>=>1'"],
        id="bad-semver-range",
    ),
    pytest.param(
        HEAD + "images:\n  - source: nginx\n    tags: ['1']\n    targets: [mirorr]\n",
        ["c.yaml:8:15: unknown target 'mirorr' (known: mirror); did you mean 'mirror'?"],
        id="unknown-target",
    ),
    pytest.param(
        HEAD.replace("[mirror]", "[mirror, mirorr]"),
        ["c.yaml:4:21: unknown target 'mirorr' (known: mirror); did you mean 'mirror'?"],
        id="unknown-default-target",
    ),
    pytest.param(
        HEAD + "images:\n  - source: nginx\n    tags: ['1.27']\n"
        "  - source: quay.io/library/nginx\n    tags: ['1.26', '1.27']\n",
        [
            "c.yaml:7:12: duplicate output reg.example.com/library/nginx:1.27: "
            "also produced at {dir}/c.yaml:9:20",
            "c.yaml:9:20: duplicate output reg.example.com/library/nginx:1.27: "
            "also produced at {dir}/c.yaml:7:12",
        ],
        id="duplicate-output",
    ),
    pytest.param(
        HEAD + "images:\n  - source: nginx\n    tags: ['1']\n    targets: []\n",
        ["c.yaml:6:5: no targets: set 'targets' here or in 'defaults'"],
        id="no-targets",
    ),
    pytest.param(
        HEAD + "registries:\n  docker.io:\n    credentials:\n      username: bob\n"
        "      password: hunter2\n",
        [
            "c.yaml:9:7: credentials must not be written in the file: use password_env or "
            "password_file (or docker_config: true)"
        ],
        id="inline-password",
    ),
    pytest.param(
        HEAD + "registries:\n  docker.io:\n    Token: abc\n",
        [
            "c.yaml:7:5: credentials must not be written in the file: use password_env or "
            "password_file (or docker_config: true)"
        ],
        id="inline-token-any-case",
    ),
    pytest.param(
        HEAD + "registries:\n  docker.io:\n    credentials: {username: bob}\n",
        ["c.yaml:7:5: username needs password_env or password_file"],
        id="username-without-password-source",
    ),
    pytest.param(
        HEAD + "images:\n  - source: nginx\n    tags: ['1']\n    schedule: 5s\n",
        ["c.yaml:8:15: interval '5s' is shorter than 10s"],
        id="short-interval",
    ),
    pytest.param(
        HEAD + "images:\n  - source: nginx\n    tags: ['1']\n    schedule: every day\n",
        [
            "c.yaml:8:15: schedule 'every day' is neither an interval (like 15m, 1h30m) "
            "nor a 5-field cron expression (like '0 */6 * * *')"
        ],
        id="bad-schedule",
    ),
    pytest.param(
        HEAD + "  schedule: '0 25 * * *'\n",
        [
            "c.yaml:5:13: bad cron schedule '0 25 * * *': Error validating expression '25': "
            "the last value (25) is higher than the maximum value (23)"
        ],
        id="bad-cron",
    ),
    pytest.param(
        HEAD + "targets:\n  other: {registry: other.example.com}\n",
        [
            # YAML keeps the last value, so the first 'mirror' is gone too.
            "c.yaml:4:13: unknown target 'mirror' (known: other)",
            "c.yaml:5:1: duplicate key 'targets' (first at line 1)",
        ],
        id="duplicate-yaml-key",
    ),
    pytest.param(
        "defaults:\n  schedule: 1h\nimages: []\n",
        ["c.yaml:1:1: missing required key 'targets'"],
        id="missing-targets",
    ),
    pytest.param(
        HEAD + "images:\n  - source: nginx\n",
        ["c.yaml:6:5: missing required key 'tags'"],
        id="missing-tags",
    ),
    pytest.param(
        "",
        ["c.yaml: missing required key 'targets'"],
        id="empty-file",
    ),
    pytest.param(
        "- nginx\n",
        ["c.yaml:1:1: expected a mapping, got a list"],
        id="not-a-mapping",
    ),
    pytest.param(
        "targets:\n  mirror: {registry: reg.example.com, mapping: flat}\n",
        ["c.yaml:2:48: expected 'keep' or 'flatten', got 'flat'"],
        id="bad-literal",
    ),
    pytest.param(
        HEAD + "registries:\n  foo: {}\n",
        ["c.yaml:6:3: 'foo' is not a registry host (like quay.io or host:5000)"],
        id="bad-registry-key",
    ),
    pytest.param(
        HEAD + "registries:\n  docker.io: {}\n  index.docker.io: {}\n",
        ["c.yaml:7:3: registry 'index.docker.io' is the same host as 'docker.io'"],
        id="same-registry-twice",
    ),
    pytest.param(
        HEAD + "registries:\n  reg.example.com: {ca_file: certs/ca.pem}\n",
        ["c.yaml:6:30: cannot read ca_file {dir}/certs/ca.pem: No such file or directory"],
        id="missing-ca-file",
    ),
    pytest.param(
        HEAD + "registries:\n  reg.example.com: {timeout: 0}\n",
        ["c.yaml:6:30: input should be greater than 0 (got the number 0)"],
        id="zero-timeout",
    ),
    pytest.param(
        HEAD + "registries:\n  reg.example.com: {retry_times: -1}\n",
        ["c.yaml:6:34: input should be greater than or equal to 0 (got the number -1)"],
        id="negative-retry-times",
    ),
    pytest.param(
        HEAD + "images:\n  - list: missing.txt\n",
        ["c.yaml:6:11: cannot read list file {dir}/missing.txt: No such file or directory"],
        id="unreadable-list-file",
    ),
    pytest.param(
        HEAD + "images:\n  - source: nginx\n    list: l.txt\n",
        [
            "c.yaml:6:5: unknown key 'source': an images entry has either 'source' and "
            "'tags', or 'list'",
            "c.yaml:7:11: cannot read list file {dir}/l.txt: No such file or directory",
        ],
        id="source-and-list",
    ),
    pytest.param(
        "version: 2\n" + HEAD,
        ["c.yaml:1:10: expected 1, got the number 2"],
        id="bad-version",
    ),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_one_mistake(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = write(tmp_path / "c.yaml", text)
    assert problems(path) == [e.replace("{dir}", str(tmp_path)) for e in expected]


def test_bad_lines_in_list_file_are_reported_at_the_list_file(tmp_path: Path) -> None:
    write(
        tmp_path / "lists" / "images.txt",
        "# images\nnginx:1.27\nNginx:1.26\n\ndocker.io/library/redis reg.example.com/redis 7\n"
        "a b\n",
    )
    path = write(tmp_path / "c.yaml", HEAD + "images:\n  - list: lists/images.txt\n")
    assert problems(path) == [
        "lists/images.txt:3:1: invalid image reference 'Nginx:1.26': "
        "repository name must be lowercase",
        "lists/images.txt:5:25: DEST 'reg.example.com/redis' names a registry host "
        "(reg.example.com); DEST is a repository path placed on each target registry, "
        "and the targets choose the registries",
        "lists/images.txt:6:1: expected an image reference or 'SOURCE DEST TAG', got 2 fields",
    ]


def test_duplicate_output_from_a_list_line_points_at_the_line(tmp_path: Path) -> None:
    """Two sources, one destination: reported at both places, each naming
    the other's FILE:LINE:COL."""
    write(tmp_path / "l.txt", "# web\n  quay.io/library/nginx:1.27\n")
    path = write(
        tmp_path / "c.yaml",
        HEAD + "images:\n  - source: nginx\n    tags: ['1.27']\n  - list: l.txt\n",
    )
    assert problems(path) == [
        "c.yaml:7:12: duplicate output reg.example.com/library/nginx:1.27: "
        f"also produced at {tmp_path}/l.txt:2:3",
        "l.txt:2:3: duplicate output reg.example.com/library/nginx:1.27: "
        f"also produced at {tmp_path}/c.yaml:7:12",
    ]


def test_the_same_source_twice_is_a_harmless_repeat(tmp_path: Path) -> None:
    """One source tag to one destination twice (an entry and a failed list
    read back beside it): merged by the planner, not a problem."""
    write(tmp_path / "l.txt", "# web\n  docker.io/library/nginx:1.27\n")
    path = write(
        tmp_path / "c.yaml",
        HEAD + "images:\n  - source: nginx\n    tags: ['1.27']\n  - list: l.txt\n",
    )
    assert problems(path) == []


def test_lines_key_in_a_list_entry_is_rejected(tmp_path: Path) -> None:
    write(tmp_path / "l.txt", "nginx\n")
    path = write(tmp_path / "c.yaml", HEAD + "images:\n  - list: l.txt\n    lines: []\n")
    assert problems(path) == [
        "c.yaml:7:5: unknown key 'lines': the lines come from the list file",
    ]


def test_many_mistakes_are_all_reported_sorted(tmp_path: Path) -> None:
    write(tmp_path / "l.txt", "nginx:1.27\nnot a valid line here\n")
    text = """\
images:
  - list: l.txt
  - source: nginx
    tags: {include: ['(']}
    schedule: "61 * * * *"
targets:
  mirror: {registry: reg.example.com, prefx: m}
registries:
  docker.io:
    credentials: {username: bob, password: hunter2}
    http: true
    http: false
defaults:
  targets: [mirror]
"""
    path = write(tmp_path / "c.yaml", text)
    assert problems(path) == [
        "c.yaml:4:22: bad regex '(': missing ), unterminated subpattern at position 0",
        "c.yaml:5:15: bad cron schedule '61 * * * *': Error validating expression '61': "
        "the last value (61) is higher than the maximum value (59)",
        "c.yaml:7:39: unknown key 'prefx'; did you mean 'prefix'?",
        "c.yaml:10:34: credentials must not be written in the file: use password_env or "
        "password_file (or docker_config: true)",
        "c.yaml:12:5: duplicate key 'http' (first at line 11)",
        "l.txt:2:1: expected an image reference or 'SOURCE DEST TAG', got 5 fields",
    ]


def test_cross_references_are_checked_beside_bad_image_entries(tmp_path: Path) -> None:
    text = HEAD + (
        "images:\n"
        "  - source: Bad\n"  # 6: schema error in this entry only
        "    tags: ['1']\n"
        "  - source: nginx\n"
        "    tags: ['1']\n"
        "    targets: [nope]\n"  # 10
    )
    path = write(tmp_path / "c.yaml", text)
    assert problems(path) == [
        "c.yaml:6:13: invalid image reference 'Bad': repository name must be lowercase",
        "c.yaml:10:15: unknown target 'nope' (known: mirror)",
    ]


def test_load_raises_config_error_with_every_problem(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", HEAD + "imagez: []\nextra: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.message == f"{path}: 2 problems"
    assert info.value.problems == [
        f"{path}:5:1: unknown key 'imagez'; did you mean 'images'?",
        f"{path}:6:1: unknown key 'extra' (expected one of: version, defaults, registries, "
        "targets, images, policy)",
    ]
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"\xff\xfe", "c.yaml: not UTF-8 text (byte 0)"),
        (
            b"targets: {}\n---\nimages: []\n",
            "c.yaml:2:1: invalid YAML: expected a single document in the stream, "
            "but found another document",
        ),
        (
            b"targets:\n\tm: {}\n",
            "c.yaml:2:1: invalid YAML: found character '\\t' that cannot start any token",
        ),
        (
            b"targets: !!python/object:os.system {}\n",
            "c.yaml:1:10: invalid YAML: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object:os.system'",
        ),
    ],
)
def test_unparsable_files(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    assert problems(path) == [expected]


def test_check_config_returns_either_the_config_or_problems(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", HEAD)
    loaded, found = check_config(path)
    assert loaded is not None
    assert found == []
    assert loaded.summary() == "1 target, 0 image entries"
    path.write_text(HEAD + "imagez: []\n")
    loaded, found = check_config(path)
    assert loaded is None
    assert [(p.line, p.column) for p in found] == [(5, 1)]


def test_unreadable_config_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert [str(p) for p in check_config(path).problems] == [
        f"{path}: cannot read {path}: No such file or directory"
    ]


def test_problem_file_names_follow_the_given_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "conf" / "lists" / "l.txt", "Bad\n")
    write(tmp_path / "conf" / "c.yaml", HEAD + "images:\n  - list: lists/l.txt\n")
    monkeypatch.chdir(tmp_path)
    assert [str(p) for p in check_config("conf/c.yaml").problems] == [
        "conf/lists/l.txt:1:1: invalid image reference 'Bad': repository name must be lowercase"
    ]


# -- a valid file -------------------------------------------------------------


def test_paths_resolve_against_the_config_directory(tmp_path: Path) -> None:
    write(tmp_path / "conf" / "lists" / "l.txt", "nginx:1.27\nredis web 7\n")
    write(tmp_path / "conf" / "certs" / "ca.pem", "-----BEGIN CERTIFICATE-----\n")
    text = HEAD + (
        "registries:\n"
        "  reg.example.com:\n"
        "    ca_file: certs/ca.pem\n"
        "    credentials: {username: u, password_file: secrets/pw}\n"
        "images:\n"
        "  - list: lists/l.txt\n"
    )
    path = write(tmp_path / "conf" / "c.yaml", text)
    loaded = load_config(path)
    conf = tmp_path / "conf"
    settings = loaded.state.registries["reg.example.com"]
    assert settings.ca_file == str(conf / "certs" / "ca.pem")
    assert settings.credentials is not None
    assert settings.credentials.password_file == str(conf / "secrets" / "pw")
    (entry,) = loaded.state.images
    assert isinstance(entry, ListEntry)
    assert entry.list_file == str(conf / "lists" / "l.txt")
    assert entry.lines == (
        ListLine(line=1, source="docker.io/library/nginx", tag="1.27"),
        ListLine(line=2, source="docker.io/library/redis", tag="7", destination="web"),
    )
    assert loaded.files == [path, conf / "lists" / "l.txt"]


def test_digest_changes_with_any_file(tmp_path: Path) -> None:
    write(tmp_path / "l.txt", "nginx:1.27\n")
    path = write(tmp_path / "c.yaml", HEAD + "images:\n  - list: l.txt\n")
    first = load_config(path).source_text_digest
    assert load_config(path).source_text_digest == first
    write(tmp_path / "l.txt", "nginx:1.26\n")
    assert load_config(path).source_text_digest != first


def test_yaml_anchors_and_merge_keys(tmp_path: Path) -> None:
    text = HEAD + (
        "images:\n"
        "  - &web\n"
        "    source: nginx\n"
        "    tags: ['1.27']\n"
        "  - <<: *web\n"
        "    source: httpd\n"
        "  - <<: *web\n"
        "    source: caddy\n"
        "    tagz: ['2']\n"  # 13
    )
    path = write(tmp_path / "c.yaml", text)
    assert problems(path) == ["c.yaml:13:5: unknown key 'tagz'; did you mean 'tags'?"]
    path.write_text(text.replace("    tagz: ['2']\n", ""))
    sources = [e.source for e in load_config(path).state.images if isinstance(e, ImageEntry)]
    assert sources == ["nginx", "httpd", "caddy"]


def test_check_secrets(tmp_path: Path) -> None:
    text = HEAD + (
        "registries:\n"
        "  quay.io:\n"
        "    credentials: {username: u, password_env: QUAY_PW}\n"  # 7
        "  ghcr.io:\n"
        "    credentials: {username: u, password_file: pw.txt}\n"  # 9
    )
    path = write(tmp_path / "c.yaml", text)
    # warnings by default: a file can be checked where its secrets are not
    assert problems(path, environ={}) == [
        "c.yaml:7:46: warning: environment variable QUAY_PW is not set",
        f"c.yaml:9:47: warning: cannot read password_file {tmp_path}/pw.txt",
    ]
    assert check_config(path, environ={}).loaded is not None
    assert problems(path, check_secrets=True, environ={}) == [
        "c.yaml:7:46: environment variable QUAY_PW is not set",
        f"c.yaml:9:47: cannot read password_file {tmp_path}/pw.txt",
    ]
    write(tmp_path / "pw.txt", "s3cret\n")
    assert check_config(path, check_secrets=True, environ={"QUAY_PW": "x"}).problems == []


# -- registries.py ------------------------------------------------------------

REGISTRIES = (
    HEAD
    + """\
registries:
  index.docker.io:
    credentials: {username: hubuser, password_env: HUB_TOKEN}
    max_concurrency: 32
    requests_per_second: 5
    ratelimit_floor: 20
  quay.io:
    credentials: {username: quser, password_file: secrets/quay}
    tls_verify: false
  "localhost:5000":
    http: true
  ghcr.io:
    credentials: {docker_config: true}
  private.example.com:
    ca_file: ca.pem
  slow.example.com:
    timeout: 2.5
    retry_times: 0
    retry_delay: 0.1
images:
  - source: quay.io/org/app
    tags: ['1']
"""
)


@pytest.fixture
def registries_config(tmp_path: Path) -> Path:
    write(tmp_path / "ca.pem", "pem\n")
    write(tmp_path / "secrets" / "quay", "quay-secret\n")
    return write(tmp_path / "c.yaml", REGISTRIES)


def test_client_options(registries_config: Path) -> None:
    loaded = load_config(registries_config)
    options = client_options(loaded, global_concurrency=12, user_agent="hangard/test")
    assert options.user_agent == "hangard/test"
    assert options.for_registry("docker.io") == RegistryOptions(
        max_concurrency=12, requests_per_second=5, ratelimit_floor=20
    )
    assert options.for_registry("quay.io") == RegistryOptions(tls_verify=False)
    assert options.for_registry("localhost:5000") == RegistryOptions(http=True)
    assert options.for_registry("private.example.com").ca_file == str(
        registries_config.parent / "ca.pem"
    )
    assert options.for_registry("reg.example.com") == RegistryOptions()  # a target
    assert options.for_registry("elsewhere.io") == RegistryOptions()
    assert client_options(loaded, global_concurrency=2).default.max_concurrency == 2
    assert ratelimit_floors(loaded) == {"docker.io": 20}
    assert registry_hosts(loaded) == [
        "docker.io",
        "ghcr.io",
        "localhost:5000",
        "private.example.com",
        "quay.io",
        "reg.example.com",
        "slow.example.com",
    ]


def test_timeout_and_retries_per_registry(registries_config: Path) -> None:
    """``timeout``, ``retry_times`` and ``retry_delay`` of ``registries: HOST:``
    reach the client options; other hosts keep the client's defaults."""
    options = client_options(load_config(registries_config))
    assert options.for_registry("slow.example.com") == RegistryOptions(
        timeout=2.5, retry_times=0, retry_delay=0.1
    )
    slow = (
        options.request_timeout_for("slow.example.com"),
        options.read_timeout_for("slow.example.com"),
        options.attempts_for("slow.example.com"),
        options.backoff_base_for("slow.example.com"),
    )
    assert slow == (2.5, 2.5, 1, 0.1)
    default = (options.request_timeout, options.read_timeout, options.max_attempts)
    assert default == (60.0, 120.0, 5)
    for host in ("quay.io", "elsewhere.io"):
        assert options.request_timeout_for(host) == options.request_timeout
        assert options.read_timeout_for(host) == options.read_timeout
        assert options.attempts_for(host) == options.max_attempts
        assert options.backoff_base_for(host) == options.backoff_base


def test_credential_store_reads_env_and_password_file(
    registries_config: Path, tmp_path: Path
) -> None:
    loaded = load_config(registries_config)
    docker_dir = tmp_path / "docker"
    write(
        docker_dir / "config.json",
        '{"auths": {"ghcr.io": {"username": "g", "password": "from-docker-config"}}}',
    )
    environ = {"HUB_TOKEN": "hub-secret", "DOCKER_CONFIG": str(docker_dir)}
    store = credential_store(loaded, environ=environ)
    hub = store.lookup("docker.io")
    assert hub is not None
    assert (hub.username, hub.password) == ("hubuser", "hub-secret")
    quay = store.lookup("quay.io")
    assert quay is not None
    assert (quay.username, quay.password) == ("quser", "quay-secret")  # newline dropped
    ghcr = store.lookup("ghcr.io")
    assert ghcr is not None
    assert ghcr.password == "from-docker-config"
    assert store.lookup("reg.example.com") is None


def test_credential_errors_name_the_variable_never_a_secret(
    registries_config: Path, tmp_path: Path
) -> None:
    loaded = load_config(registries_config)
    (tmp_path / "secrets" / "quay").unlink()
    with pytest.raises(ConfigError) as info:
        credential_store(loaded, environ={"UNRELATED": "hub-secret"})
    error = info.value
    assert error.problems == [
        "registry index.docker.io: environment variable HUB_TOKEN is not set",
        f"registry quay.io: cannot read password_file {tmp_path}/secrets/quay: "
        "No such file or directory",
    ]
    assert "hub-secret" not in str(error) + "".join(error.problems)


def test_empty_password_is_an_error(registries_config: Path) -> None:
    loaded = load_config(registries_config)
    with pytest.raises(ConfigError) as info:
        credential_store(loaded, environ={"HUB_TOKEN": ""})
    assert info.value.problems == [
        "registry index.docker.io: environment variable HUB_TOKEN is empty"
    ]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("{archive: m.zip, registry: r.example.com}", "2:3: a target needs either registry or "),
        ("{}", "2:3: a target needs either registry or archive (not both)"),
        ("{archive: m.zip, prefix: x}", "2:3: an archive target keeps source names: prefix and "),
        ("{archive: m.zip, mapping: keep}", "2:3: an archive target keeps source names"),
        ("{archive: 'c:/m.zip'}", "2:16: archive path 'c:/m.zip' cannot contain ':'"),
        ("{archive: ''}", "2:16: archive needs a file path"),
    ],
)
def test_bad_archive_targets(tmp_path: Path, target: str, expected: str) -> None:
    path = write(tmp_path / "c.yaml", f"targets:\n  a: {target}\n")
    found = problems(path)
    assert len(found) == 1 and found[0].startswith(f"c.yaml:{expected}"), found


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (
            "/mirror/",
            "prefix '/mirror/' is a repository path: no leading or trailing '/' (write 'mirror')",
        ),
        (
            "team/hub/",
            "prefix 'team/hub/' is a repository path: no leading or trailing '/' (write 'team/hub')",
        ),
        ("/", "prefix '/' is a repository path: no leading or trailing '/' (leave it out)"),
    ],
)
def test_a_slash_wrapped_prefix_is_refused_where_it_is(
    tmp_path: Path, prefix: str, expected: str
) -> None:
    text = f"targets:\n  m:\n    registry: r.example.com\n    prefix: '{prefix}'\n"
    path = write(tmp_path / "c.yaml", text)

    assert problems(path) == [f"c.yaml:4:13: {expected}"]


def test_a_clean_prefix_is_kept(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.yaml", "targets:\n  m: {registry: r.example.com, prefix: team/hub}\n"
    )

    assert load_config(path).state.targets["m"].prefix == "team/hub"


def test_an_archive_target_is_a_path_relative_to_the_config(tmp_path: Path) -> None:
    text = "targets:\n  airgap: {archive: out/m.zip}\nimages:\n  - {source: nginx, tags: ['1']}\n"
    path = write(tmp_path / "c.yaml", text.replace("]}", "], targets: [airgap]}"))
    target = load_config(path).state.targets["airgap"]
    assert target.is_archive and target.archive == str(tmp_path / "out" / "m.zip")
    assert target.registry is None
    assert registry_hosts(load_config(path)) == ["docker.io"]
