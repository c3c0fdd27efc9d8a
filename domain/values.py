"""Frozen value objects shared by the aggregates."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

MASK = "••••"


class Role(StrEnum):
    """What a caller may do: admins manage the catalogue and integrations of any sub-account."""

    ADMIN = "admin"
    USER = "user"
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller, taken from a verified bearer token."""

    subject: str
    role: Role
    sub_account_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def can_access(self, sub_account_id: str) -> bool:
        """Admins reach every sub-account; anyone else only the one in their token."""
        return self.is_admin or self.sub_account_id == sub_account_id


@dataclass(frozen=True, slots=True)
class SecretStr:
    """A plaintext secret. Its str and repr are masked, so it cannot leak through formatting."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def hint(self) -> str:
        """The last four characters, only for values long enough that they give nothing away."""
        return self._value[-4:] if len(self._value) >= 12 else ""

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"SecretStr({MASK})"


@dataclass(frozen=True, slots=True)
class EncryptedSecret:
    """A secret as stored: the cipher's opaque token (key id, nonce, ciphertext) and a mask hint."""

    token: str = field(repr=False)
    hint: str = ""

    @property
    def key_id(self) -> str:
        """The data key that sealed it: tokens read ``<version>.<key_id>.<payload>``."""
        parts = self.token.split(".", 2)
        return parts[1] if len(parts) == 3 else ""

    def masked(self) -> str:
        return MASK + self.hint


@dataclass(frozen=True, slots=True, order=True)
class ProviderAccount:
    """An account at a provider (a CRM location, an ad account's page, an analytics property)
    that an integration's credentials were proven to reach by a successful connection test.
    Only the integrations that own an account receive its webhooks."""

    kind: str
    """``{provider}.{noun}``, e.g. ``crm.location``: the noun names it to people."""
    id: str

    @property
    def noun(self) -> str:
        """What the provider calls such an account (``location``, ``page``)."""
        return self.kind.rpartition(".")[2]

    def __post_init__(self) -> None:
        if not self.kind or not self.id or len(self.kind) > 32 or len(self.id) > 128:
            raise ValueError("a provider account needs a kind (1-32) and an id (1-128)")
