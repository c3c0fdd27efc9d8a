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
    WEBHOOK_SECRET_FIELD,
    ClaimedDelivery,
    ClaimLostError,
    DeliveryFacts,
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
    WebhookSender,
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
from application.ports.paging import (
    Page,
    PageRequest,
)
from application.ports.providers import (
    ConnectionTestResult,
    Credentials,
    IntegrationProvider,
    ProviderContext,
    ProviderRegistry,
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
    "WEBHOOK_SECRET_FIELD",
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
    "DeliveryFacts",
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
    "OutboxReader",
    "OutboxRecord",
    "Page",
    "PageRequest",
    "PlatformDeliveries",
    "PlatformDelivery",
    "ProviderContext",
    "ProviderRegistry",
    "ReplyContext",
    "SalesBot",
    "SecretBinding",
    "SignatureScheme",
    "SignatureVerifier",
    "TemplateRepository",
    "TenantDirectory",
    "TimezoneHints",
    "TimezoneResolver",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "VerifiedSignature",
    "WebhookDeliveryView",
    "WebhookSender",
    "WebhookTarget",
    "WebhookTargets",
    "WrappedDataKey",
    "accepts_deliveries",
]
