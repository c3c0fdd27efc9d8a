"""The `integrations` command: serve, migrate, keys, token, directory, check-config, fake-ghl,
fake-meta, fake-ga4.
Each command imports what it needs when it runs, so that `token`, `check-config` or `--help`
do not load the whole service."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from entrypoints.config import Settings


class _Version(argparse.Action):
    """`--version`: the installed package's version, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from importlib.metadata import version

        print(f"integrations {version('integrations')}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="integrations",
        description="Connects sub-accounts to outside CRMs. Configured by environment variables "
        "(see the README).",
    )
    parser.add_argument("--version", action=_Version)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the service", description="Run the service.")
    serve.add_argument(
        "--only",
        choices=["grpc", "webhooks", "worker"],
        help="run one part only (default: every part in one process)",
    )

    commands.add_parser(
        "migrate",
        help="apply database migrations and seed the built-in templates",
        description="Apply every pending migration to DATABASE_URL, then seed the built-in "
        "templates. Run once per deployment, before starting new copies.",
    )

    keys = commands.add_parser("keys", help="manage encryption keys", description="Manage keys.")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    key_commands.add_parser(
        "generate",
        help="print a new master key entry",
        description="Print a new `<id>:<base64>` master key. Put it first in "
        "INTEGRATIONS_MASTER_KEYS, keeping the old ones after it until `keys rotate` has run.",
    )
    rotate = key_commands.add_parser(
        "rotate",
        help="re-wrap data keys under the newest master key",
        description="Re-wrap every data key under the newest master key (fast, online, nothing "
        "re-encrypted). With --data-keys, also seal every secret under fresh data keys.",
    )
    rotate.add_argument(
        "--data-keys",
        action="store_true",
        help="also create fresh data keys and re-encrypt every secret (online)",
    )
    shred = key_commands.add_parser(
        "shred",
        help="destroy a sub-account's data keys (its secrets become unreadable)",
        description="Crypto-shred a sub-account: delete its data keys, so its secrets can never "
        "be decrypted again. Irreversible.",
    )
    shred.add_argument("--sub-account", required=True, help="the sub-account id")
    shred.add_argument("--yes", action="store_true", help="confirm; nothing happens without it")

    token = commands.add_parser(
        "token",
        help="mint a development JWT",
        description="Mint a bearer token signed with JWT_SECRET (or the generated dev secret).",
    )
    token.add_argument("--role", choices=["admin", "user", "service"], default="admin")
    token.add_argument("--sub-account", help="required for the user and service roles")
    token.add_argument("--subject", default="dev", help="the `sub` claim (default: dev)")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds (default 3600)")

    directory = commands.add_parser(
        "directory",
        help="manage the tenant directory (who gets new leads)",
        description="The tenant directory: each sub-account's users, their roles and strategies.",
    )
    directory_commands = directory.add_subparsers(
        dest="directory_command", required=True, metavar="ACTION"
    )
    load = directory_commands.add_parser(
        "import",
        help="replace sub-accounts' users from a JSON file",
        description='Replace each listed sub-account\'s users: {"sub_accounts": [{"id": "...", '
        '"users": [{"id": "...", "role": "user", "strategy_id": "...", "position": 1}]}]}. '
        "The file is checked whole before anything is written.",
    )
    load.add_argument("file", type=Path, help="the JSON file")

    commands.add_parser(
        "check-config",
        help="check the configuration and exit (0: usable, 2: not)",
        description="Check every environment variable as `serve` would, without starting or "
        "writing anything; every problem is listed. Exit status 0 when the configuration is "
        "usable, 2 when it is not.",
    )

    commands.add_parser(
        "fake-ghl",
        add_help=False,
        help="run a fake GoHighLevel on loopback (see `integrations fake-ghl --help`)",
    )
    commands.add_parser(
        "fake-ga4",
        add_help=False,
        help="run a fake Google Analytics 4 on loopback (see `integrations fake-ga4 --help`)",
    )
    commands.add_parser(
        "fake-meta",
        add_help=False,
        help="run a fake Meta (Graph API, leadgen webhooks) on loopback "
        "(see `integrations fake-meta --help`)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["fake-ghl"]:
        import os

        from adapters.ghl.fake import main as fake_ghl
        from entrypoints.logging import configure_logging

        configure_logging(level=os.environ.get("LOG_LEVEL", "INFO"))
        return fake_ghl(args_list[1:])
    if args_list[:1] == ["fake-ga4"]:
        import os

        from adapters.ga4.fake import main as fake_ga4
        from entrypoints.logging import configure_logging

        configure_logging(level=os.environ.get("LOG_LEVEL", "INFO"))
        return fake_ga4(args_list[1:])
    if args_list[:1] == ["fake-meta"]:
        import os

        from adapters.meta.fake import main as fake_meta
        from entrypoints.logging import configure_logging

        configure_logging(level=os.environ.get("LOG_LEVEL", "INFO"))
        return fake_meta(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command == "keys" and args.keys_command == "generate":
        from adapters.crypto.master_keys import generate_master_key

        print(generate_master_key())
        return 0
    from entrypoints.config import ConfigurationError, Settings

    try:
        # Checked whole before anything is done; check-config writes nothing, dev keys neither.
        settings = Settings.from_env(keep_dev_secrets=args.command != "check-config")
    except ConfigurationError as err:
        count = len(err.problems)
        print(f"configuration error ({count} problem{'s' * (count > 1)}):", file=sys.stderr)
        for problem in err.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        print(_summary(settings))
        return 0
    if args.command == "token":
        return _token(settings, args)
    from entrypoints.logging import configure_logging

    configure_logging(
        level=settings.log_level.upper(),
        json=None if settings.log_format is None else settings.log_format == "json",
    )
    return _run(settings, args, parser)


def _summary(settings: Settings) -> str:
    """What check-config found, without a secret or the database's credentials."""
    database = settings.database_url.partition("://")[0]
    keys = (
        "given"
        if settings.dev_secrets_file is None
        else f"development keys of {settings.dev_secrets_file}"
    )
    return (
        f"configuration OK: {settings.environment}, database {database}, keys {keys}, "
        f"gRPC {settings.grpc_host}:{settings.grpc_port} ({settings.grpc_transport}), "
        f"webhooks {settings.webhook_host}:{settings.webhook_port}"
    )


def _token(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import timedelta

    from entrypoints.auth import mint_token

    if settings.jwt_secret is None:
        print("error: tokens can be minted only with JWT_SECRET (HS256)", file=sys.stderr)
        return 2
    try:
        token = mint_token(
            settings.jwt_secret,
            subject=args.subject,
            role=args.role,
            sub_account_id=args.sub_account,
            ttl=timedelta(seconds=args.ttl),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(token)
    return 0


def _run(settings: Settings, args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """The commands that open the database: they load the service."""
    import asyncio

    from domain.errors import InvalidArgumentError
    from entrypoints import commands
    from entrypoints.listening import CannotListenError

    if args.command == "serve":
        try:
            return _run_fast(commands.serve(settings, only=args.only), settings.event_loop)
        except CannotListenError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    if args.command == "migrate":
        return asyncio.run(commands.migrate(settings))
    if args.command == "keys" and args.keys_command == "rotate":
        return asyncio.run(commands.rotate_keys(settings, data_keys=args.data_keys))
    if args.command == "directory":
        try:
            return asyncio.run(commands.import_directory(settings, args.file))
        except (InvalidArgumentError, OSError, ValueError) as err:
            print(f"error: {err}", file=sys.stderr)
            for violation in getattr(err, "violations", ()):
                print(f"  {violation.field}: {violation.description}", file=sys.stderr)
            return 2
    if args.command == "keys" and args.keys_command == "shred":
        if not args.yes:
            print("refusing to shred without --yes", file=sys.stderr)
            return 2
        return asyncio.run(commands.shred_keys(settings, args.sub_account))
    parser.error(f"unknown command {args.command}")


def _run_fast(main: Coroutine[Any, Any, int], event_loop: str) -> int:
    """Run on uvloop where it is installed (+10-20% on the hot paths: docs/performance.md), else
    on asyncio's own loop; INTEGRATIONS_EVENT_LOOP=asyncio forces the latter."""
    import asyncio

    if event_loop == "asyncio":
        return asyncio.run(main)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


if __name__ == "__main__":
    raise SystemExit(main())
