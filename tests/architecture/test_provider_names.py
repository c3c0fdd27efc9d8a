"""The core names no provider: no identifier or string of domain/ or application/ says GoHighLevel,
Facebook, Meta, Google or GA4. A ratchet while GoHighLevel moves behind the seam: the modules
that still name it are listed, and the list may only shrink."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROVIDER = re.compile(r"ghl|gohighlevel|leadconnector|facebook|google|ga4|\bmeta\b|\bgraph\b", re.I)

# Still to move under adapters/ghl/ (issue 14): GHL's payload reading (ghl_webhooks), webhook
# receiving, and the modules that read payloads through it.
STILL_NAMING_A_PROVIDER = {
    "application/ports/deliveries.py",
}


def names_a_provider(path: Path) -> bool:
    """Whether an identifier or a string of the module names a provider (comments aside)."""
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    return any(
        t.type in (tokenize.NAME, tokenize.STRING) and PROVIDER.search(t.string) for t in tokens
    )


def test_the_core_names_no_provider_beyond_the_modules_still_to_move() -> None:
    naming = {
        str(path.relative_to(ROOT))
        for package in ("domain", "application")
        for path in sorted((ROOT / package).rglob("*.py"))
        if names_a_provider(path)
    }

    assert naming - STILL_NAMING_A_PROVIDER == set(), "a module of the core names a provider"
    assert STILL_NAMING_A_PROVIDER - naming == set(), "moved behind the seam: drop it from the list"
