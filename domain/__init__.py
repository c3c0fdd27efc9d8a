"""The integrations domain: aggregates, their state machines and events. Standard library only."""
