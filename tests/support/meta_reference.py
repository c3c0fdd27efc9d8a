"""Meta's reference examples (``shared/reference/meta/examples``): real wire shapes, read as the
tests of the Meta adapter need them (annotations, the keys starting with ``_``, left out)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_REPOSITORY = Path(__file__).resolve().parents[2]


def _meta_reference() -> Path:
    beside = [folder / "shared" / "reference" / "meta" for folder in _REPOSITORY.parents[:2]]
    return next((path for path in beside if path.is_dir()), beside[0])


META_EXAMPLES = _meta_reference() / "examples"


def example(name: str) -> dict[str, Any]:
    """An example file as parsed, annotations included."""
    parsed: dict[str, Any] = json.loads((META_EXAMPLES / name).read_text())
    return parsed


def wire_body(name: str) -> dict[str, Any]:
    """An example's wire body: its annotations (``_status``, ``_headers``...) left out."""
    return {k: v for k, v in example(name).items() if not k.startswith("_")}


def status_of(name: str) -> int:
    status: int = example(name).get("_status", 200)
    return status


def headers_of(name: str) -> dict[str, str]:
    headers: dict[str, str] = example(name).get("_headers", {})
    return headers
