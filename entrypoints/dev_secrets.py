"""Development keys: generated on first start and kept in `<data dir>/dev-secrets.json` (mode
0600), so that tokens minted by `integrations token` and stored secrets survive restarts. Never
used in production."""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from adapters.crypto.master_keys import generate_master_key

FILE_NAME = "dev-secrets.json"
_NAMES = ("master_keys", "jwt_secret", "page_token_secret")


class DevSecrets:
    """The file's keys, or new ones held in memory until `keep` writes them."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / FILE_NAME
        self._values: dict[str, str] | None = None
        self._generated = False
        self.used = False
        """Whether a setting took one of these keys (so they must be kept)."""
        self.problem: str | None = None
        """Why the file could not be read, if it could not."""

    def value(self, name: str) -> str | None:
        """One key, by its name in the file; None if the file is unreadable (see `problem`)."""
        if self._values is None and self.problem is None:
            try:
                self._values = self._read() if self.path.exists() else self._generate()
            except ValueError as err:
                self.problem = str(err)
        if self._values is None:
            return None
        self.used = True
        return self._values[name]

    def keep(self) -> bool:
        """Write the generated keys, if any were used; False if another process wrote its
        own meanwhile (read them again: theirs are the ones to share)."""
        if not (self.used and self._generated and self._values is not None):
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self._values, handle)
        return True

    def _read(self) -> dict[str, str]:
        try:
            stored = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise ValueError(f"{self.path} cannot be read: {type(err).__name__}") from None
        if not isinstance(stored, dict) or not all(
            isinstance(stored.get(name), str) for name in _NAMES
        ):
            raise ValueError(f"{self.path} does not hold {', '.join(_NAMES)}")
        return {name: stored[name] for name in _NAMES}

    def _generate(self) -> dict[str, str]:
        self._generated = True
        return {
            "master_keys": generate_master_key(),
            "jwt_secret": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "page_token_secret": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        }
