"""Integration tests: real databases, real sockets."""
