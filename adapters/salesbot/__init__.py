"""The sales bot, reached over HTTP."""

from adapters.salesbot.http import HttpSalesBot

__all__ = ["HttpSalesBot"]
