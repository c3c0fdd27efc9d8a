"""Adapters: the ports of `application` implemented on real technology."""
