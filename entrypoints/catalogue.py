"""The catalogue this service is built with: each provider's templates, one line per provider."""

from __future__ import annotations

from typing import Any

from adapters.ga4 import template as ga4
from adapters.ghl import templates as ghl
from adapters.meta import template as meta

BUILT_IN_TEMPLATES: tuple[dict[str, Any], ...] = (*ghl.TEMPLATES, *meta.TEMPLATES, *ga4.TEMPLATES)
