"""Stop sequences over streamed text: a stop may span several tokens, and must never
reach the client, so text that could be the start of a stop is held back until it is
known not to be."""

from __future__ import annotations


class StopMatcher:
    def __init__(self, stops: list[str]) -> None:
        self._stops = [s for s in stops if s]
        self._pending = ""
        self.stopped = False

    @property
    def active(self) -> bool:
        """Whether there is any stop to look for (``feed`` passes text through if not)."""
        return bool(self._stops)

    def feed(self, delta: str) -> str:
        """Text that is safe to emit now; once a stop is seen, what came before it."""
        if self.stopped:
            return ""
        if not self._stops:
            return delta
        self._pending += delta
        hits = [i for i in (self._pending.find(s) for s in self._stops) if i >= 0]
        if hits:
            self.stopped = True
            out, self._pending = self._pending[: min(hits)], ""
            return out
        keep = self._longest_stop_prefix_suffix()
        cut = len(self._pending) - keep
        out, self._pending = self._pending[:cut], self._pending[cut:]
        return out

    def flush(self) -> str:
        """What was held back, once generation ended without completing a stop."""
        out, self._pending = self._pending, ""
        return "" if self.stopped else out

    def _longest_stop_prefix_suffix(self) -> int:
        text = self._pending
        best = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(text)), best, -1):
                if text.endswith(stop[:n]):
                    best = n
                    break
        return best
