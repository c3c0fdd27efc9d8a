"""How long a test waits for something that must happen.

Generous on purpose: a loaded machine makes the suite slower, never red. The bound only ends a
test whose condition never comes. A check that something does *not* happen waits briefly
instead: that wait gives the thing a chance, it is not a deadline."""

PATIENCE_SECONDS = 60.0
