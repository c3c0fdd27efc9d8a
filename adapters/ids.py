"""Time-ordered ids (UUIDv7, RFC 9562), so keyset pagination by id follows creation order."""

from __future__ import annotations

import os
import threading
import time

_RANDOM_BATCH = 4096
"""Random bytes read per system call: one 8-byte draw per id, 512 ids per call."""


class Uuid7Generator:
    """UUIDv7 with a monotonic counter in `rand_a`, so ids made in the same millisecond by one
    process still sort in creation order. Ids are made on the ingest path of every webhook, so
    the text is formatted directly rather than through `uuid.UUID`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0
        self._random = b""
        self._offset = 0

    def new_id(self) -> str:
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if ms <= self._last_ms:
                self._counter += 1
                if self._counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                    self._last_ms += 1
                    self._counter = 0
                ms = self._last_ms
            else:
                self._last_ms = ms
                self._counter = 0
            counter = self._counter
            if self._offset >= len(self._random):
                self._random = os.urandom(_RANDOM_BATCH)
                self._offset = 0
            draw = self._random[self._offset : self._offset + 8]
            self._offset += 8
        rand_b = int.from_bytes(draw) & ((1 << 62) - 1)
        value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | counter << 64 | 0b10 << 62 | rand_b
        text = f"{value:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
