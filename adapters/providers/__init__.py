"""Which provider implements which template."""
