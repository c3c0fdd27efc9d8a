"""A stateful fake of GoHighLevel's API that speaks GHL's wire format (`integrations fake-ghl`).

A test double, not part of the service: import-linter forbids the service's modules to import it;
only the `fake-ghl` subcommand of entrypoints.cli does, when it is run.
"""

from adapters.ghl.fake.app import create_app
from adapters.ghl.fake.cli import main
from adapters.ghl.fake.core import FAKE_GHL, FakeGhl, LoggedRequest
from adapters.ghl.fake.faults import FaultPlan, ScriptedFault
from adapters.ghl.fake.limits import RateLimitConfig

__all__ = [
    "FAKE_GHL",
    "FakeGhl",
    "FaultPlan",
    "LoggedRequest",
    "RateLimitConfig",
    "ScriptedFault",
    "create_app",
    "main",
]
