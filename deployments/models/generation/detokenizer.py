"""Incremental detokenization: turn a growing list of token ids into text deltas.

Decoding token by token breaks multi-byte characters (a byte-level BPE token may hold
half of one) and drops or adds spaces (SentencePiece's leading "▁"). So, as TGI and vLLM
do, a short window of earlier tokens is decoded with the new ones and only the growth of
the text is emitted, and text ending in U+FFFD (an incomplete character) is held back.
"""

from __future__ import annotations

from collections.abc import Callable

REPLACEMENT = "\ufffd"


class IncrementalDecoder:
    def __init__(self, decode: Callable[[list[int]], str]) -> None:
        self._decode = decode
        self._ids: list[int] = []
        self._prefix = 0  # start of the window decoded for context
        self._read = 0  # tokens whose text was already emitted

    def add(self, token_id: int) -> str:
        return self.extend([token_id])

    def extend(self, token_ids: list[int]) -> str:
        """The text that ``token_ids`` add (two decodes however many they are)."""
        self._ids += token_ids
        prefix_text = self._decode(self._ids[self._prefix : self._read])
        text = self._decode(self._ids[self._prefix :])
        if len(text) > len(prefix_text) and not text.endswith(REPLACEMENT):
            self._prefix, self._read = self._read, len(self._ids)
            return text[len(prefix_text) :]
        return ""

    def flush(self) -> str:
        """Text still held back (an incomplete character stays as U+FFFD)."""
        prefix_text = self._decode(self._ids[self._prefix : self._read])
        text = self._decode(self._ids[self._prefix :])
        self._prefix = self._read = len(self._ids)
        return text[len(prefix_text) :]
