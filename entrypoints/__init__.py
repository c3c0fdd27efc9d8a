"""Entrypoints: the gRPC server, the webhook app, workers and the CLI, wired in container.py."""
