"""Conversion between rows and leads, bookings and conversation messages, nothing else."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from domain.booking import Booking, BookingDetails, BookingStatus
from domain.conversation import ConversationMessage, MessageDirection, MessageStatus
from domain.lead import ContactDetails, Lead, LeadStatus


def lead_from_row(row: Row[Any]) -> Lead:
    return Lead(
        id=row.id,
        sub_account_id=row.sub_account_id,
        integration_id=row.integration_id,
        external_id=row.external_id,
        details=ContactDetails(
            first_name=row.first_name,
            last_name=row.last_name,
            email=row.email,
            phone=row.phone,
            company=row.company,
            address1=row.address1,
            city=row.city,
            state=row.state,
            postal_code=row.postal_code,
            country=row.country,
            tags=tuple(row.tags),
        ),
        timezone=row.timezone,
        status=LeadStatus(row.status),
        assigned_user_id=row.assigned_user_id,
        strategy_id=row.strategy_id,
        external_updated_at=row.external_updated_at,
        status_changed_at=row.status_changed_at,
        opportunity_id=row.opportunity_id,
        deleted=row.deleted,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
        merged_into_id=row.merged_into_id,
        attribution=row.attribution,
    )


def lead_to_row(lead: Lead) -> dict[str, Any]:
    d = lead.details
    return {
        "id": lead.id,
        "sub_account_id": lead.sub_account_id,
        "integration_id": lead.integration_id,
        "external_id": lead.external_id,
        "first_name": d.first_name,
        "last_name": d.last_name,
        "email": d.email,
        "phone": d.phone,
        "company": d.company,
        "address1": d.address1,
        "city": d.city,
        "state": d.state,
        "postal_code": d.postal_code,
        "country": d.country,
        "tags": list(d.tags),
        "timezone": lead.timezone,
        "status": str(lead.status),
        "assigned_user_id": lead.assigned_user_id,
        "strategy_id": lead.strategy_id,
        "external_updated_at": lead.external_updated_at,
        "status_changed_at": lead.status_changed_at,
        "opportunity_id": lead.opportunity_id,
        "deleted": lead.deleted,
        "created_at": lead.created_at,
        "updated_at": lead.updated_at,
        "version": lead.version,
        "merged_into_id": lead.merged_into_id,
        "attribution": dict(lead.attribution) or None,
    }


def booking_from_row(row: Row[Any]) -> Booking:
    return Booking(
        id=row.id,
        sub_account_id=row.sub_account_id,
        integration_id=row.integration_id,
        external_id=row.external_id,
        details=BookingDetails(
            calendar_id=row.calendar_id,
            contact_external_id=row.contact_external_id,
            start=row.start_at,
            end=row.end_at,
            title=row.title,
            assigned_user_id=row.assigned_user_id,
            address=row.address,
        ),
        status=BookingStatus(row.status),
        lead_id=row.lead_id,
        external_updated_at=row.external_updated_at,
        deleted=row.deleted,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


def booking_to_row(booking: Booking) -> dict[str, Any]:
    d = booking.details
    return {
        "id": booking.id,
        "sub_account_id": booking.sub_account_id,
        "integration_id": booking.integration_id,
        "external_id": booking.external_id,
        "calendar_id": d.calendar_id,
        "contact_external_id": d.contact_external_id,
        "lead_id": booking.lead_id,
        "title": d.title,
        "start_at": d.start,
        "end_at": d.end,
        "status": str(booking.status),
        "assigned_user_id": d.assigned_user_id,
        "address": d.address,
        "external_updated_at": booking.external_updated_at,
        "deleted": booking.deleted,
        "created_at": booking.created_at,
        "updated_at": booking.updated_at,
        "version": booking.version,
    }


def message_from_row(row: Row[Any]) -> ConversationMessage:
    return ConversationMessage(
        id=row.id,
        sub_account_id=row.sub_account_id,
        integration_id=row.integration_id,
        contact_external_id=row.contact_external_id,
        lead_id=row.lead_id,
        conversation_id=row.conversation_id,
        direction=MessageDirection(row.direction),
        channel=row.channel,
        body=row.body,
        subject=row.subject,
        external_message_id=row.external_message_id,
        dedupe_key=row.dedupe_key,
        in_reply_to=row.in_reply_to,
        status=MessageStatus(row.status),
        error=row.error,
        attempts=row.attempts,
        not_before=row.not_before,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
    )


def message_to_row(message: ConversationMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "sub_account_id": message.sub_account_id,
        "integration_id": message.integration_id,
        "contact_external_id": message.contact_external_id,
        "lead_id": message.lead_id,
        "conversation_id": message.conversation_id,
        "direction": str(message.direction),
        "channel": message.channel,
        "body": message.body,
        "subject": message.subject,
        "external_message_id": message.external_message_id,
        "dedupe_key": message.dedupe_key,
        "in_reply_to": message.in_reply_to,
        "status": str(message.status),
        "error": message.error,
        "attempts": message.attempts,
        "not_before": message.not_before,
        "created_at": message.created_at,
        "updated_at": message.updated_at,
        "version": message.version,
    }
