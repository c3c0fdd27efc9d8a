"""A stateful fake of Meta for development and tests (`integrations fake-meta`): the Graph API
routes of Lead Ads and the Conversions API, Facebook Login's dialog and token endpoint, and a
sender of leadgen webhooks.

A test double, not part of the service: import-linter forbids the service's modules to import it;
only the `fake-meta` subcommand of entrypoints.cli does, when it is run.
"""

from adapters.meta.fake.app import create_app
from adapters.meta.fake.cli import main
from adapters.meta.fake.core import FAKE_META, FakeMeta, LoggedRequest, ReceivedEvent, SubmitResult
from adapters.meta.fake.faults import FaultPlan, ScriptedError, Slow, Throttle
from adapters.meta.fake.login import LoginPlan
from adapters.meta.fake.submissions import Submission
from adapters.meta.fake.webhooks import Delivery, LeadChange, leadgen_body, sign

__all__ = [
    "FAKE_META",
    "Delivery",
    "FakeMeta",
    "FaultPlan",
    "LeadChange",
    "LoggedRequest",
    "LoginPlan",
    "ReceivedEvent",
    "ScriptedError",
    "Slow",
    "Submission",
    "SubmitResult",
    "Throttle",
    "create_app",
    "leadgen_body",
    "main",
    "sign",
]
