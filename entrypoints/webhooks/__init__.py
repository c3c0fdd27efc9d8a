"""The webhook entrypoint: an aiohttp app that verifies deliveries and stores them in the inbox."""
