"""Where the providers' reference material (``shared/reference/{provider}``) is: beside the repository, or
beside the folder that holds it (a git worktree kept in a folder of worktrees)."""

from __future__ import annotations

from pathlib import Path

_REPOSITORY = Path(__file__).resolve().parents[2]


def provider_reference(provider: str) -> Path:
    """A provider's reference material (``shared/reference/{provider}``)."""
    beside = [folder / "shared" / "reference" / provider for folder in _REPOSITORY.parents[:2]]
    return next((path for path in beside if path.is_dir()), beside[0])


GHL_REFERENCE = provider_reference("ghl")
"""GHL's webhook examples, OpenAPI copies (``openapi/``) and assembled fixtures."""
