"""Typed values from environment variables, every problem collected rather than the first
raised, so that one run names all of them."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from pathlib import Path

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class EnvReader:
    """Reads variables; an unset or empty one takes its default, a malformed one adds a problem
    (naming the variable, never quoting its value, which may be a secret) and takes its default
    too, so that reading goes on."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.problems: list[str] = []

    def problem(self, message: str) -> None:
        self.problems.append(message)

    def text(self, name: str) -> str | None:
        return self._env.get(name) or None

    def secret(self, name: str) -> str | None:
        """`name`, or the contents of the file `name_FILE` names (trailing newline dropped),
        as mounted secrets are; setting both is a problem."""
        value, file = self.text(name), self.path(f"{name}_FILE")
        if file is None:
            return value
        if value is not None:
            self.problem(f"set {name} or {name}_FILE, not both")
            return value
        try:
            return file.read_text(encoding="utf-8").rstrip("\r\n") or None
        except (OSError, UnicodeDecodeError) as err:
            self.problem(f"{name}_FILE cannot be read: {type(err).__name__}")
            return None

    def path(self, name: str) -> Path | None:
        raw = self.text(name)
        return None if raw is None else Path(raw)

    def integer(self, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            self.problem(f"{name} must be an integer")
            return default
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"at least {minimum}" if maximum is None else f"{minimum}..{maximum}"
            self.problem(f"{name} must be {bounds}")
            return default
        return value

    def number(self, name: str, default: float, *, unit: str, zero: bool = False) -> float:
        """A positive number of `unit`s (zero too when `zero`)."""
        raw = self.text(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            self.problem(f"{name} must be a number of {unit}")
            return default
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
            self.problem(f"{name} must be {'zero or more' if zero else 'positive'} ({unit})")
            return default
        return value

    def choice(self, name: str, default: str, choices: Collection[str]) -> str:
        """One of `choices` (lower case), matched case-insensitively."""
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() not in choices:
            self.problem(f"{name} must be one of {', '.join(choices)}")
            return default
        return raw.lower()

    def flag(self, name: str, default: bool) -> bool:
        raw = self.text(name)
        if raw is None:
            return default
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        self.problem(f"{name} must be true or false")
        return default
