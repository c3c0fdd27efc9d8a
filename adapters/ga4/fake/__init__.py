"""A fake of GA4's Measurement Protocol and Admin API (`integrations fake-ga4`).

A test double, not part of the service: import-linter forbids the service's modules to import it;
only the `fake-ga4` subcommand of entrypoints.cli does, when it is run.
"""

from adapters.ga4.fake.app import create_app
from adapters.ga4.fake.cli import main
from adapters.ga4.fake.core import FAKE_GA4, Collected, FakeGa4

__all__ = ["FAKE_GA4", "Collected", "FakeGa4", "create_app", "main"]
