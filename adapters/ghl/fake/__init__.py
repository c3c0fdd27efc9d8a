"""A stateful fake of GoHighLevel's API that speaks GHL's wire format."""

from entrypoints.fake_ghl.app import create_app
from entrypoints.fake_ghl.cli import main
from entrypoints.fake_ghl.core import FAKE_GHL, FakeGhl, LoggedRequest
from entrypoints.fake_ghl.faults import FaultPlan, ScriptedFault
from entrypoints.fake_ghl.limits import RateLimitConfig

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
