"""Envelope encryption of secrets: master keys wrap per-sub-account AES-256-GCM data keys."""
