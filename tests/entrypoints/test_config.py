"""Settings.from_env: every variable checked before anything is done, every problem named."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.crypto.master_keys import generate_master_key
from entrypoints.config import ConfigurationError, Settings

JWT_SECRET = "a-jwt-secret-of-at-least-thirty-two-bytes"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"INTEGRATIONS_DATA_DIR": str(tmp_path), **extra}


def test_the_read_pool_holds_ten_connections_unless_told_otherwise(tmp_path: Path) -> None:
    assert Settings.from_env(_env(tmp_path)).read_pool_size == 10
    assert Settings.from_env(_env(tmp_path, READ_POOL_SIZE="4")).read_pool_size == 4


@pytest.mark.parametrize("size", ["0", "-1", "many"])
def test_a_read_pool_size_that_is_not_a_positive_integer_is_refused(
    tmp_path: Path, size: str
) -> None:
    with pytest.raises(ConfigurationError, match="READ_POOL_SIZE"):
        Settings.from_env(_env(tmp_path, READ_POOL_SIZE=size))


def _problems(env: dict[str, str]) -> tuple[str, ...]:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(env)
    return caught.value.problems


def test_every_problem_is_reported_at_once_and_no_dev_key_is_written(tmp_path: Path) -> None:
    problems = _problems(
        _env(
            tmp_path,
            DATABASE_URL="mysql://root:hunter2-password@db/x",
            JWT_SECRET="too-short-secret",
            LOG_LEVEL="LOUD",
            INTEGRATIONS_MASTER_KEYS="k1:not-base64-key-material",
            INBOX_MAX_ATTEMPTS="0",
            WEBHOOK_PORT="-1",
        )
    )

    named = ["DATABASE_URL", "JWT_SECRET", "LOG_LEVEL", "INTEGRATIONS_MASTER_KEYS"]
    named += ["INBOX_MAX_ATTEMPTS", "WEBHOOK_PORT"]
    assert len(problems) == len(named)
    for name in named:
        assert any(p.startswith(name) for p in problems), name
    text = " ".join(problems)
    for secret in ("hunter2-password", "too-short-secret", "not-base64-key-material"):
        assert secret not in text
    assert list(tmp_path.iterdir()) == []


def test_production_names_every_missing_variable_in_one_run(tmp_path: Path) -> None:
    problems = _problems(_env(tmp_path, INTEGRATIONS_ENV="production"))

    for name in ("INTEGRATIONS_MASTER_KEYS", "JWT_SECRET", "PAGE_TOKEN_SECRET", "DATABASE_URL"):
        assert any(name in p for p in problems), name
    for name in ("META_APP_ID", "META_APP_SECRET", "META_WEBHOOK_VERIFY_TOKEN", "PUBLIC_BASE_URL"):
        assert any(p.startswith(f"set {name}") for p in problems), name
    assert list(tmp_path.iterdir()) == []


def test_the_meta_apps_secrets_may_come_from_files(tmp_path: Path) -> None:
    secret_file = tmp_path / "meta-app-secret"
    secret_file.write_text("the-app-secret-from-a-mounted-file\n")

    settings = Settings.from_env(
        _env(tmp_path, META_APP_ID="123", META_APP_SECRET_FILE=str(secret_file))
    )

    assert settings.meta_app_id == "123"
    assert settings.meta_app_secret == "the-app-secret-from-a-mounted-file"
    assert "the-app-secret" not in repr(settings)
    with pytest.raises(ConfigurationError, match="META_APP_SECRET or META_APP_SECRET_FILE"):
        Settings.from_env(
            _env(tmp_path, META_APP_SECRET="x", META_APP_SECRET_FILE=str(secret_file))
        )


def test_development_has_meta_values_of_its_own_stable_across_starts(tmp_path: Path) -> None:
    first, again = Settings.from_env(_env(tmp_path)), Settings.from_env(_env(tmp_path))
    other = Settings.from_env(_env(tmp_path / "another-machine"))

    assert first.meta_app_secret == again.meta_app_secret
    assert first.meta_webhook_verify_token == again.meta_webhook_verify_token
    assert first.meta_app_secret != other.meta_app_secret
    assert first.meta_app_secret != first.meta_webhook_verify_token


def test_an_unknown_environment_is_refused_rather_than_taken_for_development(
    tmp_path: Path,
) -> None:
    assert _problems(_env(tmp_path, INTEGRATIONS_ENV="prod")) == (
        "INTEGRATIONS_ENV must be one of development, production",
    )


@pytest.mark.parametrize("variable", ["GRPC_PORT", "WEBHOOK_PORT"])
@pytest.mark.parametrize("port", ["-5", "-1", "65536", "99999", "http"])
def test_a_port_outside_1_to_65535_is_refused(tmp_path: Path, variable: str, port: str) -> None:
    [problem] = _problems(_env(tmp_path, **{variable: port}))

    assert problem.startswith(variable)


@pytest.mark.parametrize("port", ["0", "1", "65535"])
def test_a_port_in_range_is_taken_and_0_still_picks_a_free_one(tmp_path: Path, port: str) -> None:
    settings = Settings.from_env(_env(tmp_path, GRPC_PORT=port, WEBHOOK_PORT=port))

    assert settings.grpc_port == settings.webhook_port == int(port)


def test_dev_keys_are_kept_once_the_checks_pass_and_reused_after(tmp_path: Path) -> None:
    first = Settings.from_env(_env(tmp_path))
    again = Settings.from_env(_env(tmp_path))

    secrets_file = tmp_path / "dev-secrets.json"
    assert first.dev_secrets_file == secrets_file
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    assert (again.master_keys, again.jwt_secret) == (first.master_keys, first.jwt_secret)


def test_checking_alone_writes_no_dev_key(tmp_path: Path) -> None:
    Settings.from_env(_env(tmp_path), keep_dev_secrets=False)

    assert list(tmp_path.iterdir()) == []


def test_no_dev_key_is_written_when_every_key_is_given(tmp_path: Path) -> None:
    settings = Settings.from_env(
        _env(
            tmp_path,
            INTEGRATIONS_MASTER_KEYS=generate_master_key(),
            JWT_SECRET=JWT_SECRET,
            PAGE_TOKEN_SECRET="page-token-secret",
        )
    )

    assert settings.dev_secrets_file is None
    assert list(tmp_path.iterdir()) == []


def test_keys_given_two_ways_are_refused(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys"
    keys_file.write_text(generate_master_key() + "\n")
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')

    problems = _problems(
        _env(
            tmp_path,
            INTEGRATIONS_MASTER_KEYS=generate_master_key(),
            INTEGRATIONS_MASTER_KEYS_FILE=str(keys_file),
            JWT_SECRET=JWT_SECRET,
            JWT_JWKS_FILE=str(jwks),
        )
    )

    assert problems == (
        "set INTEGRATIONS_MASTER_KEYS or INTEGRATIONS_MASTER_KEYS_FILE, not both",
        "set JWT_SECRET or JWT_JWKS_FILE, not both",
        f"JWT_JWKS_FILE: the JWKS file {jwks} holds no keys",
    )


def test_files_named_by_settings_are_read_as_the_service_will(tmp_path: Path) -> None:
    not_a_key = tmp_path / "not-a-key.pem"
    not_a_key.write_text("hello")

    problems = _problems(
        _env(
            tmp_path,
            INTEGRATIONS_MASTER_KEYS_FILE=str(tmp_path / "missing"),
            GHL_WEBHOOK_ED25519_KEY_FILE=str(not_a_key),
            GHL_WEBHOOK_RSA_KEY_FILE=str(tmp_path / "missing.pem"),
        )
    )

    assert [p.split(":")[0] for p in problems] == [
        "INTEGRATIONS_MASTER_KEYS_FILE",
        "GHL_WEBHOOK_ED25519_KEY_FILE",
        "GHL_WEBHOOK_RSA_KEY_FILE",
    ]


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("GRPC_GRACE_SECONDS", "-1"),
        ("SALESBOT_TIMEOUT_SECONDS", "0"),
        ("INBOX_LEASE_SECONDS", "nan"),
        ("WEBHOOK_PAYLOAD_RETENTION_DAYS", "soon"),
        ("WEBHOOK_HEADER_TIMEOUT_SECONDS", "0"),
        ("WEBHOOK_BODY_TIMEOUT_SECONDS", "-3"),
        ("RATE_LIMIT_COPIES", "0"),
        ("REUSE_PORT", "maybe"),
        ("LOG_FORMAT", "xml"),
        ("INTEGRATIONS_EVENT_LOOP", "trio"),
        ("GHL_API_BASE_URL", "services.leadconnectorhq.com"),
        ("SALESBOT_URL", "ftp://bot"),
        ("REDIS_URL", "127.0.0.1:6379"),
        ("DATABASE_URL", "postgresql+asyncpg://u@h:port/db"),
    ],
)
def test_each_malformed_setting_is_named(tmp_path: Path, variable: str, value: str) -> None:
    [problem] = _problems(_env(tmp_path, **{variable: value}))

    assert problem.startswith(variable)


def test_the_new_listening_settings_are_read(tmp_path: Path) -> None:
    settings = Settings.from_env(
        _env(
            tmp_path,
            REUSE_PORT="true",
            WEBHOOK_HEADER_TIMEOUT_SECONDS="5",
            WEBHOOK_BODY_TIMEOUT_SECONDS="2.5",
            LOG_LEVEL="debug",
        )
    )

    assert settings.reuse_port is True
    assert (settings.webhook_header_timeout_seconds, settings.webhook_body_timeout_seconds) == (
        5.0,
        2.5,
    )
    assert settings.log_level == "debug"
    assert Settings.from_env(_env(tmp_path)).reuse_port is False


def test_the_connect_settings_are_read_and_checked(tmp_path: Path) -> None:
    settings = Settings.from_env(
        _env(
            tmp_path,
            PUBLIC_BASE_URL="https://integrations.example/",
            CONNECT_RETURN_URLS="https://app.example/a, https://app.example/b?x=1",
            GHL_OAUTH_CLIENT_ID="app-id-suffix",
            GHL_OAUTH_CLIENT_SECRET="the-ghl-client-secret",
        )
    )
    assert settings.public_base_url == "https://integrations.example"
    assert settings.connect_return_urls == ("https://app.example/a", "https://app.example/b?x=1")
    assert (settings.ghl_oauth_client_id, settings.google_oauth_client_id) == ("app-id-suffix", "")
    assert "the-ghl-client-secret" not in repr(settings)

    problems = _problems(
        _env(
            tmp_path,
            CONNECT_RETURN_URLS="https://app.example/a#frag",
            GOOGLE_OAUTH_CLIENT_ID="only-the-id",
            PUBLIC_BASE_URL="ftp://x",
        )
    )
    assert any(p.startswith("CONNECT_RETURN_URLS") for p in problems)
    assert any("GOOGLE_OAUTH_CLIENT_SECRET" in p for p in problems)
    assert any(p.startswith("PUBLIC_BASE_URL") for p in problems)
