"""The core names no provider: no identifier or string (docstrings included) of domain/ or
application/ says GoHighLevel, Facebook, Meta, Google or GA4. Providers live under adapters/;
import-linter checks that the core imports none of them (pyproject.toml)."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROVIDER = re.compile(r"ghl|gohighlevel|leadconnector|facebook|google|ga4|\bmeta\b|\bgraph\b", re.I)


def names_a_provider(path: Path) -> bool:
    """Whether an identifier or a string of the module names a provider (comments aside)."""
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    return any(
        t.type in (tokenize.NAME, tokenize.STRING) and PROVIDER.search(t.string) for t in tokens
    )


def test_the_core_names_no_provider() -> None:
    naming = {
        str(path.relative_to(ROOT))
        for package in ("domain", "application")
        for path in sorted((ROOT / package).rglob("*.py"))
        if names_a_provider(path)
    }

    assert naming == set(), "a module of the core names a provider"


def test_the_check_finds_a_provider_named_in_a_string_or_identifier(tmp_path: Path) -> None:
    named = tmp_path / "named.py"
    named.write_text('ROUTE = "/webhooks/meta"\n')
    quiet = tmp_path / "quiet.py"
    quiet.write_text("# a comment may say ga4\nROUTE = '/webhooks/x'\n")

    assert names_a_provider(named)
    assert not names_a_provider(quiet)
