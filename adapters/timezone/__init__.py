"""Timezone detection from a contact's address and phone number."""

from adapters.timezone.resolver import StaticTimezoneResolver

__all__ = ["StaticTimezoneResolver"]
