"""Ports: what the use cases need from the outside world, one module per concern; every name is
also importable from this package."""

from __future__ import annotations

from application.ports.crypto import (
    Cipher,
    DataKeyRotation,
    DataKeyStore,
    SecretBinding,
    WrappedDataKey,
)
from application.ports.deliveries import (
    ClaimedDelivery,
    ClaimLostError,
    DeliveryFilter,
    InboundEvent,
    Inbox,
    InboxWriter,
    NewDelivery,
    PlatformDeliveries,
    PlatformDelivery,
    SignatureScheme,
    SignatureVerifier,
    VerifiedSignature,
    WebhookDeliveryView,
    WebhookTarget,
    WebhookTargets,
    accepts_deliveries,
)
from application.ports.directory import (
    AssignedUser,
    TenantDirectory,
    TimezoneHints,
    TimezoneResolver,
)
from application.ports.handlers import (
    EventHandler,
    HandlerOutcome,
)
from application.ports.oauth import (
    OAuthTokens,
    TokenStore,
)
from application.ports.paging import (
    Page,
    PageRequest,
)
from application.ports.providers import (
    ConnectionTestResult,
    Credentials,
    IntegrationProvider,
    ProviderCall,
    ProviderContext,
    ProviderRegistry,
)
from application.ports.rate_limits import (
    Priority,
    RateLimiter,
    RateLimitObservation,
    RateLimitPermit,
)
from application.ports.sales_bot import (
    BotContact,
    ReplyContext,
    SalesBot,
)
from application.ports.schemas import (
    ConfigValidator,
)
from application.ports.storage import (
    BookingFilter,
    BookingRepository,
    IntegrationFilter,
    IntegrationReads,
    IntegrationRepository,
    LeadFilter,
    LeadRepository,
    MessageRepository,
    OutboxReader,
    OutboxRecord,
    TemplateRepository,
    UnitOfWork,
    UnitOfWorkFactory,
)
from application.ports.system import (
    Clock,
    IdGenerator,
)

__all__ = [
    "AssignedUser",
    "BookingFilter",
    "BookingRepository",
    "BotContact",
    "Cipher",
    "ClaimLostError",
    "ClaimedDelivery",
    "Clock",
    "ConfigValidator",
    "ConnectionTestResult",
    "Credentials",
    "DataKeyRotation",
    "DataKeyStore",
    "DeliveryFilter",
    "EventHandler",
    "HandlerOutcome",
    "IdGenerator",
    "InboundEvent",
    "Inbox",
    "InboxWriter",
    "IntegrationFilter",
    "IntegrationProvider",
    "IntegrationReads",
    "IntegrationRepository",
    "LeadFilter",
    "LeadRepository",
    "MessageRepository",
    "NewDelivery",
    "OAuthTokens",
    "OutboxReader",
    "OutboxRecord",
    "Page",
    "PageRequest",
    "PlatformDeliveries",
    "PlatformDelivery",
    "Priority",
    "ProviderCall",
    "ProviderContext",
    "ProviderRegistry",
    "RateLimitObservation",
    "RateLimitPermit",
    "RateLimiter",
    "ReplyContext",
    "SalesBot",
    "SecretBinding",
    "SignatureScheme",
    "SignatureVerifier",
    "TemplateRepository",
    "TenantDirectory",
    "TimezoneHints",
    "TimezoneResolver",
    "TokenStore",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "VerifiedSignature",
    "WebhookDeliveryView",
    "WebhookTarget",
    "WebhookTargets",
    "WrappedDataKey",
    "accepts_deliveries",
]
