"""A file parsed once and parsed again whenever it changes: how credentials rotate live."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

logger = logging.getLogger("ray.serve")

T = TypeVar("T")


class WatchedFile(Generic[T]):
    """The parsed content of ``path``, refreshed when the file is replaced or modified.

    Each ``get`` costs one ``stat``; the file is parsed again only when its inode, mtime or
    size changed (an atomic rename changes the inode even within one mtime tick). A file
    that is missing or does not parse yields ``empty``: it fails closed, so a botched edit
    locks clients out rather than keeping a revoked credential alive.
    """

    def __init__(self, path: Path, parse: Callable[[bytes], T], empty: T) -> None:
        self.path = path
        self._parse = parse
        self._empty = empty
        self._signature: tuple[int, int, int] | None = None
        self._value = empty

    def get(self) -> T:
        try:
            st = os.stat(self.path)
        except OSError:
            if self._signature is not None:
                logger.warning("%s is gone; nothing in it is accepted any more", self.path)
            self._signature = None
            self._value = self._empty
            return self._value
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        if signature != self._signature:
            self._signature = signature
            try:
                self._value = self._parse(self.path.read_bytes())
                logger.info("loaded %s", self.path)
            except Exception as exc:
                self._value = self._empty
                logger.error("%s is invalid, so nothing in it is accepted: %s", self.path, exc)
        return self._value
