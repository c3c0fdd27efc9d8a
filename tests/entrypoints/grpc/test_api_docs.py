"""The README and docs/api-errors.md keep up with the protos: every RPC is in the README's API
table and in the error details table; every document they name is in the repository."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"
API_ERRORS = ROOT / "docs" / "api-errors.md"


def rpc_names() -> set[str]:
    names = set()
    for proto in (ROOT / "protos" / "integrations" / "v1").glob("*_service.proto"):
        module = importlib.import_module(f"integrations.v1.{proto.stem}_pb2")
        for service in module.DESCRIPTOR.services_by_name.values():
            names |= {method.name for method in service.methods}
    return names


def table_rpcs(text: str) -> set[str]:
    """The RPCs named in backticks in the first cell of a Markdown table's rows, with or without
    their service (`LeadService.ListLeads`)."""
    first_cells = [line.split("|")[1] for line in text.splitlines() if line.startswith("| `")]
    return {
        name.rpartition(".")[2] for cell in first_cells for name in re.findall(r"`([\w.]+)`", cell)
    }


def section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_readme_api_table_names_every_rpc() -> None:
    api = section(README.read_text(encoding="utf-8"), "The API in short")

    assert rpc_names() - table_rpcs(api) == set()


def test_the_error_details_of_every_rpc_are_documented_and_linked_from_the_readme() -> None:
    assert rpc_names() - table_rpcs(API_ERRORS.read_text(encoding="utf-8")) == set()
    assert "(docs/api-errors.md)" in README.read_text(encoding="utf-8")


def tracked_folders() -> set[str]:
    git = shutil.which("git")
    assert git is not None
    listed = subprocess.run(
        [git, "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return {path.split("/")[0] for path in listed.splitlines() if "/" in path}


@pytest.mark.parametrize("document", [README, API_ERRORS], ids=lambda path: path.name)
def test_every_file_a_document_points_to_is_in_the_repository(document: Path) -> None:
    """Paths of files and folders in the repository's folders (`docs/deployment.md`,
    `protos/google/rpc/`), and documents (`STYLE.md`)."""
    text = document.read_text(encoding="utf-8")
    folders = "|".join(sorted(tracked_folders()))
    named = set(
        re.findall(
            rf"(?<![\w/.-])(?:(?:{folders})/(?:[\w.-]+/)*(?:[\w-]+\.\w+\b)?|[\w-]+\.md\b)", text
        )
    )

    missing = {
        name
        for name in named
        if not (ROOT / name).exists() and not (document.parent / name).exists()
    }
    assert named
    assert missing == set()
