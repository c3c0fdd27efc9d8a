"""Settings, read once from the environment and checked whole before anything is done.
Every variable is listed in the README."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from adapters.crypto.master_keys import MasterKeyError, MasterKeyRing
from entrypoints.auth import MIN_SECRET_BYTES, CertificateIdentities, JwtAuthenticator
from entrypoints.dev_secrets import DevSecrets
from entrypoints.env_reader import EnvReader
from entrypoints.tls_files import TlsFiles, TlsFilesError, read_tls_files

DEFAULT_DATA_DIR = Path("var")
ENVIRONMENTS = ("development", "production")
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_FORMATS = ("json", "console")
EVENT_LOOPS = ("uvloop", "asyncio")
_DATABASE_DRIVERS = ("postgresql+asyncpg://", "sqlite+aiosqlite:///")
_MAX_PORT = 65535
_GRAPH_VERSION = re.compile(r"v\d+\.\d+")


class ConfigurationError(Exception):
    """The environment is incomplete or inconsistent: `problems` names every variable at fault,
    never quoting a value."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class Settings:
    environment: str
    database_url: str
    master_keys: str = field(repr=False)
    """Comma-separated `<id>:<base64>` entries, newest first; empty when a file holds them."""
    master_keys_file: Path | None
    jwt_secret: str | None = field(repr=False)
    jwt_jwks_file: Path | None
    jwt_issuer: str | None
    jwt_audience: str | None
    page_token_key: bytes = field(repr=False)
    read_pool_size: int = 10
    """The connections GetIntegration and ListIntegrations may hold on PostgreSQL, beside the
    engine's pool (its 10 + 10 overflow)."""
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    grpc_grace_seconds: float = 10.0
    grpc_tls: TlsFiles | None = None
    """The gRPC port serves only TLS with these files; None: plaintext."""
    grpc_insecure: bool = False
    """Plaintext gRPC was asked for explicitly (production refuses it otherwise)."""
    grpc_client_identities: CertificateIdentities | None = None
    """Client certificates (mutual TLS) admitted without a bearer token, and as whom."""
    ghl_api_base_url: str = "https://services.leadconnectorhq.com"
    redis_url: str | None = None
    rate_limit_copies: int = 1
    salesbot_url: str | None = None
    salesbot_token: str | None = field(default=None, repr=False)
    salesbot_timeout_seconds: float = 10.0
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 8080
    webhook_timestamp_tolerance_seconds: float = 300.0
    webhook_retry_after_seconds: int = 60
    ghl_webhook_ed25519_key_file: Path | None = None
    """GHL's Ed25519 public key (PEM); None: the published key bundled with the package."""
    ghl_webhook_rsa_key_file: Path | None = None
    meta_app_id: str = ""
    """The platform's Meta app (one for every tenant): META_APP_ID."""
    meta_app_secret: str = field(default="", repr=False)
    meta_webhook_verify_token: str = field(default="", repr=False)
    meta_graph_api_base_url: str = "https://graph.facebook.com"
    meta_graph_api_version: str = "v26.0"
    ga4_mp_base_url: str | None = None
    """The Measurement Protocol's host; None: Google's (the EU one for an EU property)."""
    ga4_admin_base_url: str | None = None
    """The Admin API's host; None: Google's."""
    ga4_token_url: str | None = None
    """The one token endpoint a tenant's service-account key may name; None: Google's."""
    """GHL's legacy RSA public key (PEM); None: the published key bundled with the package."""
    public_base_url: str = ""
    """Where browsers and providers reach the HTTP port (PUBLIC_BASE_URL): the OAuth callbacks
    are under it. Default: the webhook listener's own address."""
    connect_return_urls: tuple[str, ...] = ()
    """The only URLs a sign-in may send the browser back to (CONNECT_RETURN_URLS), compared
    exactly; the first also receives a callback whose session is unknown."""
    connect_session_ttl_seconds: float = 600.0
    ghl_oauth_authorize_url: str = "https://marketplace.gohighlevel.com/v2/oauth/chooselocation"
    ghl_oauth_client_id: str = ""
    """The platform's GHL Marketplace app; empty: its sign-in is not offered."""
    ghl_oauth_client_secret: str = field(default="", repr=False)
    meta_oauth_authorize_url: str = ""
    """The Facebook Login dialog; empty: Facebook's, for the Graph API version."""
    google_oauth_authorize_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_oauth_token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
    google_oauth_client_id: str = ""
    """The platform's Google OAuth client; empty: its sign-in is not offered."""
    google_oauth_client_secret: str = field(default="", repr=False)
    webhook_payload_retention_days: float = 30.0
    inbox_max_attempts: int = 8
    inbox_lease_seconds: float = 120.0
    """How long a worker holds a claimed delivery; a worker that died lets go after it."""
    sync_interval_seconds: float = 900.0
    """How often each integration is synced with its provider (± 10 % jitter)."""
    sync_push_interval_seconds: float = 2.0
    """How often local lead and booking changes due are pushed between syncs."""
    webhook_header_timeout_seconds: float = 75.0
    """How long a webhook connection may take to send a request's line and headers, from its
    opening or its previous answer (so also how long an idle one stays open)."""
    webhook_body_timeout_seconds: float = 30.0
    """How long a webhook request's body may take to arrive (408 after)."""
    reuse_port: bool = False
    """Several copies on one host may listen on the same ports (SO_REUSEPORT)."""
    log_level: str = "info"
    log_format: str | None = None
    """json or console; None: JSON unless stderr is a terminal."""
    event_loop: str = "uvloop"
    data_dir: Path = DEFAULT_DATA_DIR
    dev_secrets_file: Path | None = None
    """Where the generated development keys in use are kept; None when every key was given."""
    trace_exporters: tuple[str, ...] = ()
    """Where `serve` sends traces (OTEL_TRACES_EXPORTER's names); empty: tracing is off."""

    @property
    def is_embedded_database(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def grpc_transport(self) -> str:
        """How the gRPC port is served: plaintext, TLS or mutual TLS."""
        if self.grpc_tls is None:
            return "plaintext"
        return "mutual TLS" if self.grpc_tls.mutual else "TLS"

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, keep_dev_secrets: bool = True
    ) -> Settings:
        """Every variable, checked before anything is done: ConfigurationError lists every
        problem at once. Production (`INTEGRATIONS_ENV=production`) requires every key to be
        given; anywhere else, missing keys come from `<data dir>/dev-secrets.json`, which is
        created, once the checks pass, with new ones (unless `keep_dev_secrets` is False)."""
        read = EnvReader(os.environ if env is None else env)
        environment = read.choice("INTEGRATIONS_ENV", "development", ENVIRONMENTS)
        production = environment == "production"
        data_dir = read.path("INTEGRATIONS_DATA_DIR") or DEFAULT_DATA_DIR
        dev = DevSecrets(data_dir)

        def given_or_dev(name: str, dev_name: str, missing: str) -> str:
            value = read.text(name)
            if value is not None:
                return value
            if production:
                read.problem(missing)
                return ""
            return dev.value(dev_name) or ""

        master_keys, keys_file = (
            read.text("INTEGRATIONS_MASTER_KEYS"),
            read.path("INTEGRATIONS_MASTER_KEYS_FILE"),
        )
        if master_keys is not None and keys_file is not None:
            read.problem("set INTEGRATIONS_MASTER_KEYS or INTEGRATIONS_MASTER_KEYS_FILE, not both")
        elif keys_file is not None:
            _check_master_keys(read, "INTEGRATIONS_MASTER_KEYS_FILE", keys_file)
        else:
            master_keys = given_or_dev(
                "INTEGRATIONS_MASTER_KEYS",
                "master_keys",
                "set INTEGRATIONS_MASTER_KEYS or INTEGRATIONS_MASTER_KEYS_FILE",
            )
            if master_keys:
                _check_master_keys(read, "INTEGRATIONS_MASTER_KEYS", master_keys)

        jwks = read.path("JWT_JWKS_FILE")
        jwt_secret: str | None = None
        if jwks is not None:
            if read.text("JWT_SECRET") is not None:
                read.problem("set JWT_SECRET or JWT_JWKS_FILE, not both")
            _check_jwks(read, jwks)
        else:
            jwt_secret = given_or_dev("JWT_SECRET", "jwt_secret", "set JWT_SECRET or JWT_JWKS_FILE")
            if jwt_secret and len(jwt_secret.encode()) < MIN_SECRET_BYTES:
                read.problem(f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes long")

        page_key = given_or_dev(
            "PAGE_TOKEN_SECRET",
            "page_token_secret",
            "set PAGE_TOKEN_SECRET (shared by every copy)",
        )
        database_url = read.text("DATABASE_URL") or (
            "" if production else f"sqlite+aiosqlite:///{data_dir / 'integrations.db'}"
        )
        if not database_url:
            read.problem("set DATABASE_URL")
        else:
            _check_database_url(read, database_url)
        if dev.problem is not None:
            read.problem(f"INTEGRATIONS_DATA_DIR: {dev.problem}")

        meta_app_id = read.text("META_APP_ID")
        meta_app_secret = read.secret("META_APP_SECRET")
        meta_verify_token = read.secret("META_WEBHOOK_VERIFY_TOKEN")
        if production:
            for name, value in (
                ("META_APP_ID", meta_app_id),
                ("META_APP_SECRET", meta_app_secret),
                ("META_WEBHOOK_VERIFY_TOKEN", meta_verify_token),
            ):
                if value is None:
                    read.problem(f"set {name} (or {name}_FILE): the platform's Meta app")
        elif None in (meta_app_id, meta_app_secret, meta_verify_token):
            # Development: values of this machine's own, derived from its page-token key.
            meta_app_id = meta_app_id or str(int(_derived(page_key, "meta-app-id")[:12], 16))
            meta_app_secret = meta_app_secret or _derived(page_key, "meta-app-secret")
            meta_verify_token = meta_verify_token or _derived(page_key, "meta-verify-token")
        if meta_app_id is not None and not meta_app_id.isdigit():
            read.problem("META_APP_ID must be the app's numeric id")
        meta_version = read.text("META_GRAPH_API_VERSION") or "v26.0"
        if not _GRAPH_VERSION.fullmatch(meta_version):
            read.problem("META_GRAPH_API_VERSION must look like v26.0")

        webhook_host = read.text("WEBHOOK_HOST") or "127.0.0.1"
        webhook_port = read.integer("WEBHOOK_PORT", 8080, minimum=0, maximum=_MAX_PORT)
        public_base_url = _http_url(read, "PUBLIC_BASE_URL")
        if public_base_url is None and production:
            read.problem("set PUBLIC_BASE_URL: where browsers reach the OAuth callbacks")
        ghl_client = _client_pair(read, "GHL_OAUTH_CLIENT_ID", "GHL_OAUTH_CLIENT_SECRET")
        google_client = _client_pair(read, "GOOGLE_OAUTH_CLIENT_ID", "GOOGLE_OAUTH_CLIENT_SECRET")

        grpc_tls = _grpc_tls(read)
        grpc_insecure = read.flag("GRPC_INSECURE", False)
        if grpc_tls is not None and grpc_insecure:
            read.problem("set GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE or GRPC_INSECURE, not both")
        elif production and grpc_tls is None and not grpc_insecure:
            read.problem(
                "set GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE to serve gRPC over TLS, or "
                "GRPC_INSECURE=true to serve it in plaintext (behind a proxy that terminates TLS)"
            )

        settings = cls(
            environment=environment,
            database_url=database_url,
            master_keys=master_keys or "",
            master_keys_file=keys_file if master_keys is None else None,
            jwt_secret=jwt_secret,
            jwt_jwks_file=jwks,
            jwt_issuer=read.text("JWT_ISSUER"),
            jwt_audience=read.text("JWT_AUDIENCE"),
            page_token_key=_derive_key(page_key),
            read_pool_size=read.integer("READ_POOL_SIZE", 10, minimum=1),
            grpc_host=read.text("GRPC_HOST") or "127.0.0.1",
            grpc_port=read.integer("GRPC_PORT", 50051, minimum=0, maximum=_MAX_PORT),
            grpc_grace_seconds=read.number("GRPC_GRACE_SECONDS", 10.0, unit="seconds", zero=True),
            grpc_tls=grpc_tls,
            grpc_insecure=grpc_insecure,
            grpc_client_identities=_client_identities(read, grpc_tls),
            ghl_api_base_url=_http_url(read, "GHL_API_BASE_URL")
            or "https://services.leadconnectorhq.com",
            redis_url=_redis_url(read),
            rate_limit_copies=read.integer("RATE_LIMIT_COPIES", 1, minimum=1),
            salesbot_url=_http_url(read, "SALESBOT_URL"),
            salesbot_token=read.text("SALESBOT_TOKEN"),
            salesbot_timeout_seconds=read.number("SALESBOT_TIMEOUT_SECONDS", 10.0, unit="seconds"),
            webhook_host=webhook_host,
            webhook_port=webhook_port,
            webhook_timestamp_tolerance_seconds=read.number(
                "WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS", 300.0, unit="seconds"
            ),
            webhook_retry_after_seconds=read.integer("WEBHOOK_RETRY_AFTER_SECONDS", 60, minimum=0),
            ghl_webhook_ed25519_key_file=_public_key_file(read, "GHL_WEBHOOK_ED25519_KEY_FILE"),
            ghl_webhook_rsa_key_file=_public_key_file(read, "GHL_WEBHOOK_RSA_KEY_FILE"),
            meta_app_id=meta_app_id or "",
            meta_app_secret=meta_app_secret or "",
            meta_webhook_verify_token=meta_verify_token or "",
            meta_graph_api_base_url=_http_url(read, "META_GRAPH_API_BASE_URL")
            or "https://graph.facebook.com",
            meta_graph_api_version=meta_version,
            ga4_mp_base_url=_http_url(read, "GA4_MP_BASE_URL"),
            ga4_admin_base_url=_http_url(read, "GA4_ADMIN_BASE_URL"),
            ga4_token_url=_http_url(read, "GA4_TOKEN_URL"),
            public_base_url=(public_base_url or f"http://{webhook_host}:{webhook_port}").rstrip(
                "/"
            ),
            connect_return_urls=_return_urls(read),
            connect_session_ttl_seconds=read.number(
                "CONNECT_SESSION_TTL_SECONDS", 600.0, unit="seconds"
            ),
            ghl_oauth_authorize_url=_http_url(read, "GHL_OAUTH_AUTHORIZE_URL")
            or "https://marketplace.gohighlevel.com/v2/oauth/chooselocation",
            ghl_oauth_client_id=ghl_client[0],
            ghl_oauth_client_secret=ghl_client[1],
            meta_oauth_authorize_url=_http_url(read, "META_OAUTH_AUTHORIZE_URL") or "",
            google_oauth_authorize_url=_http_url(read, "GOOGLE_OAUTH_AUTHORIZE_URL")
            or "https://accounts.google.com/o/oauth2/v2/auth",
            google_oauth_token_url=_http_url(read, "GOOGLE_OAUTH_TOKEN_URL")
            or "https://oauth2.googleapis.com/token",
            google_oauth_client_id=google_client[0],
            google_oauth_client_secret=google_client[1],
            webhook_payload_retention_days=read.number(
                "WEBHOOK_PAYLOAD_RETENTION_DAYS", 30.0, unit="days"
            ),
            inbox_max_attempts=read.integer("INBOX_MAX_ATTEMPTS", 8, minimum=1),
            inbox_lease_seconds=read.number("INBOX_LEASE_SECONDS", 120.0, unit="seconds"),
            sync_interval_seconds=read.number("SYNC_INTERVAL_SECONDS", 900.0, unit="seconds"),
            sync_push_interval_seconds=read.number(
                "SYNC_PUSH_INTERVAL_SECONDS", 2.0, unit="seconds"
            ),
            webhook_header_timeout_seconds=read.number(
                "WEBHOOK_HEADER_TIMEOUT_SECONDS", 75.0, unit="seconds"
            ),
            webhook_body_timeout_seconds=read.number(
                "WEBHOOK_BODY_TIMEOUT_SECONDS", 30.0, unit="seconds"
            ),
            reuse_port=read.flag("REUSE_PORT", False),
            log_level=read.choice("LOG_LEVEL", "info", LOG_LEVELS),
            log_format=read.choice("LOG_FORMAT", "", LOG_FORMATS) or None,
            event_loop=read.choice("INTEGRATIONS_EVENT_LOOP", "uvloop", EVENT_LOOPS),
            data_dir=data_dir,
            dev_secrets_file=dev.path if dev.used else None,
            trace_exporters=_trace_exporters(read),
        )
        if read.problems:
            raise ConfigurationError(read.problems)
        if keep_dev_secrets and not dev.keep():
            # Another process started at the same moment and kept its keys first: share them.
            return cls.from_env(env, keep_dev_secrets=keep_dev_secrets)
        return settings


def _derived(key: str, purpose: str) -> str:
    """A development value of `purpose`, stable for this machine's dev keys."""
    return hmac.new(key.encode(), purpose.encode(), hashlib.sha256).hexdigest()[:32]


TRACE_EXPORTERS = ("otlp", "console")
_OTLP_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_OTLP_PROTOCOLS = ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")


def _trace_exporters(read: EnvReader) -> tuple[str, ...]:
    """Tracing is off unless asked for: OTEL_TRACES_EXPORTER names exporters, or an OTLP
    endpoint is given (then OTLP); OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none keep it
    off. OTLP is sent over gRPC."""
    if read.flag("OTEL_SDK_DISABLED", False):
        return ()
    raw = read.text("OTEL_TRACES_EXPORTER")
    if raw is None:
        names = ["otlp"] if any(read.text(name) for name in _OTLP_ENDPOINTS) else []
    else:
        names = [name.strip().lower() for name in raw.split(",") if name.strip()]
        names = [name for name in names if name != "none"]
        if any(name not in TRACE_EXPORTERS for name in names):
            read.problem(f"OTEL_TRACES_EXPORTER must name {', '.join(TRACE_EXPORTERS)} or none")
            return ()
    if "otlp" in names:
        for name in _OTLP_PROTOCOLS:
            read.choice(name, "grpc", ("grpc",))
    return tuple(dict.fromkeys(names))


def _check_master_keys(read: EnvReader, name: str, value: str | Path) -> None:
    try:
        if isinstance(value, Path):
            MasterKeyRing.from_file(value)
        else:
            MasterKeyRing.parse(value)
    except MasterKeyError as err:  # its messages name entries, never key material
        read.problem(f"{name}: {err}")


def _grpc_tls(read: EnvReader) -> TlsFiles | None:
    """The gRPC port's TLS files, read and checked as the server will read them."""
    cert, key = read.path("GRPC_TLS_CERT_FILE"), read.path("GRPC_TLS_KEY_FILE")
    client_ca = read.path("GRPC_TLS_CLIENT_CA_FILE")
    if cert is None or key is None:
        if cert is not None or key is not None:
            read.problem("set both GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE, or neither")
        elif client_ca is not None:
            read.problem("GRPC_TLS_CLIENT_CA_FILE needs GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE")
        return None
    files = TlsFiles(cert, key, client_ca)
    try:
        read_tls_files(files)
    except TlsFilesError as err:
        read.problem(f"GRPC_TLS_*: {err}")
    return files


def _client_identities(read: EnvReader, tls: TlsFiles | None) -> CertificateIdentities | None:
    text = read.text("GRPC_TLS_CLIENT_IDENTITIES")
    if text is None:
        return None
    if tls is None or not tls.mutual:
        read.problem("GRPC_TLS_CLIENT_IDENTITIES needs GRPC_TLS_CLIENT_CA_FILE (mutual TLS)")
        return None
    try:
        return CertificateIdentities.parse(text)
    except ValueError as err:
        read.problem(f"GRPC_TLS_CLIENT_IDENTITIES: {err}")
        return None


def _check_jwks(read: EnvReader, path: Path) -> None:
    try:
        JwtAuthenticator(jwks_file=path)
    except ValueError as err:
        read.problem(f"JWT_JWKS_FILE: {err}")


def _check_database_url(read: EnvReader, url: str) -> None:
    """The drivers the service speaks; the URL itself is never quoted (it may hold a
    password)."""
    if not url.startswith(_DATABASE_DRIVERS):
        driver = url.partition("://")[0] if "://" in url else "none"
        read.problem(
            f"DATABASE_URL must start with {' or '.join(_DATABASE_DRIVERS)} (its driver: "
            f"{driver[:40]!r})"
        )
        return
    try:
        urlsplit(url).port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        read.problem("DATABASE_URL has a port that is not a number from 0 to 65535")


def _http_url(read: EnvReader, name: str) -> str | None:
    url = read.text(name)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        read.problem(f"{name} must be an http:// or https:// URL")
        return None
    return url


def _client_pair(read: EnvReader, id_name: str, secret_name: str) -> tuple[str, str]:
    """An OAuth app's client id and secret: both or neither."""
    client_id, secret = read.text(id_name), read.secret(secret_name)
    if (client_id is None) != (secret is None):
        read.problem(f"set both {id_name} and {secret_name} (or {secret_name}_FILE), or neither")
        return "", ""
    return client_id or "", secret or ""


def _return_urls(read: EnvReader) -> tuple[str, ...]:
    """CONNECT_RETURN_URLS: comma-separated absolute http(s) URLs, without a fragment."""
    raw = read.text("CONNECT_RETURN_URLS") or ""
    urls = tuple(url.strip() for url in raw.split(",") if url.strip())
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
            read.problem("CONNECT_RETURN_URLS must hold absolute http(s) URLs without a fragment")
            return ()
    return urls


def _redis_url(read: EnvReader) -> str | None:
    url = read.text("REDIS_URL")
    if url is not None and urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        read.problem("REDIS_URL must be a redis://, rediss:// or unix:// URL")
        return None
    return url


def _public_key_file(read: EnvReader, name: str) -> Path | None:
    """A PEM public key file of the kind the variable names, loaded as the verifier will."""
    path = read.path(name)
    if path is None:
        return None
    from adapters.crypto.signatures import load_ed25519_public_key, load_rsa_public_key

    load = load_rsa_public_key if "RSA" in name else load_ed25519_public_key
    try:
        load(path.read_bytes())
    except OSError as err:
        read.problem(f"{name}: cannot read {path}: {err.strerror}")
    except ValueError as err:
        read.problem(f"{name}: {path} is not a PEM public key of that kind ({err})")
    return path


def _derive_key(secret: str) -> bytes:
    return hashlib.sha256(b"integrations/page-token/v1\x00" + secret.encode()).digest()
