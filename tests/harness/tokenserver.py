"""A small Docker token-auth server (``GET /token``) for tests.

Implements the distribution token spec: ``GET /token?service=S&scope=A&scope=B``
with optional HTTP Basic credentials.  Replies
``{"token", "access_token", "expires_in", "issued_at"}`` where the token is an
ES256 JWT (hand-encoded) whose header carries the signing certificate in
``x5c``; the registry trusts it through ``auth.token.rootcertbundle``
(:attr:`TokenServer.rootcertbundle`, a PEM file with that self-signed cert).

Access policy:

* ``users``: ``{user: password}``; a wrong password or unknown user -> 401;
* ``grants``: optional ``{user: {repo_glob: actions}}``; users without an entry
  get ``pull``, ``push``, ``delete`` and ``*`` on everything;
* anonymous requests get ``pull`` on repositories if ``anonymous_pull`` else an
  empty access list; with ``anonymous_allowed=False`` they get 401 instead.

Distribution 2.8 accepts a token up to 60 s past its ``exp`` (and 60 s before
its ``nbf``): a short ``expires_in`` alone does not make the registry refuse
the token.  ``exp_claim_offset`` is added to the ``exp`` claim only (not to
the ``expires_in`` reply field); ``exp_claim_offset=-60`` makes the registry
refuse tokens right when ``expires_in`` runs out.

Every request is recorded in :attr:`TokenServer.requests` (thread-safe).
``expires_in``, ``grants``, ``anonymous_pull`` may be changed while running.

Failure mode (what a real token server does under load, which this one
never would by itself): :meth:`TokenServer.fail` answers the next ``times``
token requests (``None``: all of them) with a given status and headers,
e.g. 503 or 429 with ``Retry-After``.
"""

from __future__ import annotations

import base64
import datetime as dt
import fnmatch
import json
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from tests.harness.threaded import BackgroundServer

FULL_ACTIONS = ("pull", "push", "delete", "*")


def b64url(data: bytes) -> str:
    """base64url without padding (JWS encoding)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Inverse of :func:`b64url`."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """Claims of a JWT, *without* verifying it (for assertions in tests)."""
    return dict(json.loads(b64url_decode(token.split(".")[1])))


def decode_jwt_header(token: str) -> dict[str, Any]:
    """Header of a JWT, without verification."""
    return dict(json.loads(b64url_decode(token.split(".")[0])))


@dataclass(frozen=True)
class TokenRequest:
    """One request received by the token server."""

    method: str
    path: str
    query: dict[str, list[str]]
    had_credentials: bool
    username: str | None
    status: int
    access: list[dict[str, Any]]
    time: float

    @property
    def scopes(self) -> list[str]:
        """The ``scope`` parameters."""
        return self.query.get("scope", [])

    @property
    def service(self) -> str | None:
        """The ``service`` parameter."""
        values = self.query.get("service")
        return values[0] if values else None


def parse_scope(scope: str) -> tuple[str, str, list[str]]:
    """Split ``type:name:actions`` (the name may itself contain ':' e.g. a port)."""
    typ, rest = scope.split(":", 1)
    name, _, actions = rest.rpartition(":")
    return typ, name, [a for a in actions.split(",") if a]


@dataclass
class TokenServer:
    """Threaded token server on 127.0.0.1 (free port); ``start()``/``stop()``."""

    workdir: Path
    users: dict[str, str] = field(default_factory=dict)
    grants: dict[str, dict[str, Iterable[str]]] = field(default_factory=dict)
    anonymous_pull: bool = True
    anonymous_allowed: bool = True
    expires_in: int = 300
    exp_claim_offset: int = 0
    issuer: str = "hangard-test-token-issuer"
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    """OAuth2 refresh token → user, for ``POST /token`` with
    ``grant_type=refresh_token`` (docker's ``identitytoken``)."""
    requests: list[TokenRequest] = field(default_factory=list, init=False)
    failure: tuple[int, dict[str, str], int | None] | None = field(default=None, init=False)
    """``(status, headers, times left)`` set by :meth:`fail`."""
    port: int = field(default=0, init=False)
    rootcertbundle: Path = field(init=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._background: BackgroundServer | None = None
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hangard test token signer")])
        self._cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.rootcertbundle = self.workdir / "token-signer.pem"
        self.rootcertbundle.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        self._x5c = base64.b64encode(self._cert.public_bytes(serialization.Encoding.DER)).decode()

    # -------------------------------------------------------------- address
    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def realm(self) -> str:
        """The token endpoint URL (registry ``auth.token.realm``)."""
        return f"{self.url}/token"

    # ------------------------------------------------------------ lifecycle
    def start(self) -> TokenServer:
        """Bind 127.0.0.1:0 and serve in a daemon thread; returns self."""
        if self._background is None:
            self._background = BackgroundServer(_make_handler(self), name="tokenserver")
            self.port = self._background.port
        return self

    def stop(self) -> None:
        """Shut the server down and join its thread."""
        background, self._background = self._background, None
        if background is not None:
            background.stop()

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --------------------------------------------------------------- policy
    def token_requests(self) -> list[TokenRequest]:
        """Snapshot of recorded requests."""
        with self._lock:
            return list(self.requests)

    def fail(
        self, status: int, *, times: int | None = None, headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next ``times`` token requests (``None``: every one) with
        ``status`` and ``headers`` instead of a token."""
        with self._lock:
            self.failure = (status, dict(headers or {}), times)

    def take_failure(self) -> tuple[int, dict[str, str]] | None:
        """The failure to answer this request with, if any (counts it)."""
        with self._lock:
            if self.failure is None:
                return None
            status, headers, times = self.failure
            if times is not None:
                self.failure = (status, headers, times - 1) if times > 1 else None
            return status, headers

    def clear_requests(self) -> None:
        """Forget recorded requests."""
        with self._lock:
            self.requests.clear()

    def _allowed(self, user: str | None, typ: str, name: str) -> set[str]:
        if user is None:
            return {"pull"} if (self.anonymous_pull and typ == "repository") else set()
        rules = self.grants.get(user)
        if rules is None:
            return set(FULL_ACTIONS)
        allowed: set[str] = set()
        for pattern, actions in rules.items():
            if fnmatch.fnmatchcase(name, pattern):
                allowed |= set(actions)
        return allowed

    def grant(self, user: str | None, scopes: Iterable[str]) -> list[dict[str, Any]]:
        """The access list granted to ``user`` (None = anonymous) for ``scopes``."""
        access: list[dict[str, Any]] = []
        for scope in scopes:
            for single in scope.split(" "):
                if not single:
                    continue
                typ, name, actions = parse_scope(single)
                allowed = self._allowed(user, typ, name)
                if "*" in allowed:
                    granted = actions
                else:
                    granted = [a for a in actions if a in allowed]
                if granted:
                    access.append({"type": typ, "name": name, "actions": granted})
        return access

    # -------------------------------------------------------------- signing
    def sign(self, claims: dict[str, Any]) -> str:
        """Encode and ES256-sign a JWT (raw r||s signature, x5c header)."""
        header = {"typ": "JWT", "alg": "ES256", "x5c": [self._x5c]}
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        der = self._key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        return signing_input + "." + b64url(sig)

    def issue(self, user: str | None, service: str, scopes: Iterable[str]) -> dict[str, Any]:
        """Build the JSON reply body for a successful token request."""
        now = int(time.time())
        expires_in = int(self.expires_in)
        access = self.grant(user, scopes)
        claims = {
            "iss": self.issuer,
            "sub": user or "",
            "aud": service,
            "exp": now + expires_in + self.exp_claim_offset,
            "nbf": now,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        token = self.sign(claims)
        issued = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "token": token,
            "access_token": token,
            "expires_in": expires_in,
            "issued_at": issued,
        }


def _make_handler(ts: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _record(
            self,
            query: dict[str, list[str]],
            had_creds: bool,
            user: str | None,
            status: int,
            access: list[dict[str, Any]],
        ) -> None:
            req = TokenRequest(
                method=self.command,
                path=urlsplit(self.path).path,
                query=query,
                had_credentials=had_creds,
                username=user,
                status=status,
                access=access,
                time=time.time(),
            )
            with ts._lock:
                ts.requests.append(req)

        def _failed(self, query: dict[str, list[str]]) -> bool:
            failure = ts.take_failure()
            if failure is None:
                return False
            status, headers = failure
            self._record(query, "Authorization" in self.headers, None, status, [])
            self._reply(status, {"details": "token service unavailable"}, headers)
            return True

        def do_POST(self) -> None:
            """OAuth2 refresh-token grant: the form names the refresh token,
            service and space-separated scopes; the reply is a token as for GET."""
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode(), keep_blank_values=True)
            if self._failed(form):
                return
            grant = (form.get("grant_type") or [""])[0]
            refresh = (form.get("refresh_token") or [""])[0]
            user = ts.refresh_tokens.get(refresh)
            if parts.path != "/token" or grant != "refresh_token" or user is None:
                self._record(form, False, None, 401, [])
                self._reply(401, {"error": "invalid_grant"}, {})
                return
            service = (form.get("service") or [""])[0]
            scopes = " ".join(form.get("scope", [])).split()
            body = ts.issue(user, service, scopes)
            access = json.loads(b64url_decode(body["token"].split(".")[1]))["access"]
            self._record(form, True, user, 200, access)
            self._reply(200, body, {})

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            header = self.headers.get("Authorization")
            had_creds = header is not None
            user: str | None = None
            if self._failed(query):
                return
            if parts.path != "/token":
                self._record(query, had_creds, None, 404, [])
                self._reply(404, {"errors": [{"code": "NOT_FOUND"}]}, {})
                return
            if header is not None:
                user = self._check_basic(header)
                if user is None:
                    self._record(query, had_creds, None, 401, [])
                    self._reply(
                        401,
                        {"details": "incorrect username or password"},
                        {"WWW-Authenticate": 'Basic realm="hangard-test-token"'},
                    )
                    return
            elif not ts.anonymous_allowed:
                self._record(query, had_creds, None, 401, [])
                self._reply(
                    401,
                    {"details": "authentication required"},
                    {"WWW-Authenticate": 'Basic realm="hangard-test-token"'},
                )
                return
            service = (query.get("service") or [""])[0]
            body = ts.issue(user, service, query.get("scope", []))
            access = json.loads(b64url_decode(body["token"].split(".")[1]))["access"]
            self._record(query, had_creds, user, 200, access)
            self._reply(200, body, {})

        def _check_basic(self, header: str) -> str | None:
            scheme, _, value = header.partition(" ")
            if scheme.lower() != "basic":
                return None
            try:
                user, _, password = base64.b64decode(value).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
            if user in ts.users and ts.users[user] == password:
                return user
            return None

    return Handler
