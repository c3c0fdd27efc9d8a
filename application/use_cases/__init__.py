"""One use case per module: a command, a result, and a class with `execute`."""
