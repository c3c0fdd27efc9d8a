"""Settings, read once from the environment. Every variable is listed in the README."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

DEFAULT_DATA_DIR = Path("var")


class ConfigurationError(Exception):
    """The environment is incomplete or inconsistent; the message says which variable."""


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
    """GHL's legacy RSA public key (PEM); None: the published key bundled with the package."""
    webhook_payload_retention_days: float = 30.0
    inbox_max_attempts: int = 8
    inbox_lease_seconds: float = 120.0
    """How long a worker holds a claimed delivery; a worker that died lets go after it."""
    sync_interval_seconds: float = 900.0
    """How often each integration is synced with its provider (± 10 % jitter)."""
    sync_push_interval_seconds: float = 2.0
    """How often local lead and booking changes due are pushed between syncs."""
    data_dir: Path = DEFAULT_DATA_DIR

    @property
    def is_embedded_database(self) -> bool:
        return self.database_url.startswith("sqlite")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Production (`INTEGRATIONS_ENV=production`) requires every key to be given; anywhere
        else, missing keys are generated once and kept in `<data dir>/dev-secrets.json`."""
        env = os.environ if env is None else env
        environment = env.get("INTEGRATIONS_ENV", "development")
        data_dir = Path(env.get("INTEGRATIONS_DATA_DIR", str(DEFAULT_DATA_DIR)))
        production = environment == "production"
        dev: dict[str, str] = {} if production else _dev_secrets(data_dir)

        master_keys = env.get("INTEGRATIONS_MASTER_KEYS", "")
        keys_file = env.get("INTEGRATIONS_MASTER_KEYS_FILE") or None
        if not master_keys and not keys_file:
            if production:
                raise ConfigurationError(
                    "set INTEGRATIONS_MASTER_KEYS or INTEGRATIONS_MASTER_KEYS_FILE"
                )
            master_keys = dev["master_keys"]

        jwks = env.get("JWT_JWKS_FILE")
        jwt_secret = env.get("JWT_SECRET") or (None if jwks or production else dev["jwt_secret"])
        if production and not (jwt_secret or jwks):
            raise ConfigurationError("set JWT_SECRET or JWT_JWKS_FILE")

        page_key = env.get("PAGE_TOKEN_SECRET") or (
            None if production else dev["page_token_secret"]
        )
        if not page_key:
            raise ConfigurationError("set PAGE_TOKEN_SECRET (shared by every copy)")

        database_url = env.get("DATABASE_URL") or (
            "" if production else f"sqlite+aiosqlite:///{data_dir / 'integrations.db'}"
        )
        if not database_url:
            raise ConfigurationError("set DATABASE_URL")
        read_pool_size = _int(env, "READ_POOL_SIZE", 10)
        if read_pool_size < 1:
            raise ConfigurationError("READ_POOL_SIZE must be at least 1")
        return cls(
            environment=environment,
            database_url=database_url,
            master_keys=master_keys,
            master_keys_file=None if master_keys else Path(keys_file) if keys_file else None,
            jwt_secret=jwt_secret,
            jwt_jwks_file=Path(jwks) if jwks else None,
            jwt_issuer=env.get("JWT_ISSUER") or None,
            jwt_audience=env.get("JWT_AUDIENCE") or None,
            page_token_key=_derive_key(page_key),
            read_pool_size=read_pool_size,
            grpc_host=env.get("GRPC_HOST", "127.0.0.1"),
            grpc_port=_int(env, "GRPC_PORT", 50051),
            grpc_grace_seconds=float(env.get("GRPC_GRACE_SECONDS", "10")),
            ghl_api_base_url=env.get("GHL_API_BASE_URL") or "https://services.leadconnectorhq.com",
            redis_url=env.get("REDIS_URL") or None,
            rate_limit_copies=_int(env, "RATE_LIMIT_COPIES", 1),
            salesbot_url=env.get("SALESBOT_URL") or None,
            salesbot_token=env.get("SALESBOT_TOKEN") or None,
            salesbot_timeout_seconds=float(env.get("SALESBOT_TIMEOUT_SECONDS") or 10),
            webhook_host=env.get("WEBHOOK_HOST", "127.0.0.1"),
            webhook_port=_int(env, "WEBHOOK_PORT", 8080),
            webhook_timestamp_tolerance_seconds=float(
                env.get("WEBHOOK_TIMESTAMP_TOLERANCE_SECONDS", "300")
            ),
            webhook_retry_after_seconds=_int(env, "WEBHOOK_RETRY_AFTER_SECONDS", 60),
            ghl_webhook_ed25519_key_file=_path(env, "GHL_WEBHOOK_ED25519_KEY_FILE"),
            ghl_webhook_rsa_key_file=_path(env, "GHL_WEBHOOK_RSA_KEY_FILE"),
            webhook_payload_retention_days=float(env.get("WEBHOOK_PAYLOAD_RETENTION_DAYS", "30")),
            inbox_max_attempts=_int(env, "INBOX_MAX_ATTEMPTS", 8),
            inbox_lease_seconds=float(env.get("INBOX_LEASE_SECONDS") or 120),
            sync_interval_seconds=_positive(env, "SYNC_INTERVAL_SECONDS", 900.0),
            sync_push_interval_seconds=_positive(env, "SYNC_PUSH_INTERVAL_SECONDS", 2.0),
            data_dir=data_dir,
        )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer") from None


def _positive(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds") from None
    if value <= 0:
        raise ConfigurationError(f"{name} must be positive")
    return value


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name)
    return Path(raw) if raw else None


def _derive_key(secret: str) -> bytes:
    return hashlib.sha256(b"integrations/page-token/v1\x00" + secret.encode()).digest()


def _dev_secrets(data_dir: Path) -> dict[str, str]:
    """Development keys, generated on first start and reused after, so tokens minted by
    `integrations token` and stored secrets survive restarts. Never used in production."""
    from adapters.crypto.master_keys import generate_master_key

    path = data_dir / "dev-secrets.json"
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
        return stored
    data_dir.mkdir(parents=True, exist_ok=True)
    values = {
        "master_keys": generate_master_key(),
        "jwt_secret": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "page_token_secret": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(values, handle)
    log.warning("dev_secrets_generated", path=str(path))
    return values
