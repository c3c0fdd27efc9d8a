"""Background workers: the webhook inbox processor."""
