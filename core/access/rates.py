"""How often a caller may ask: a token bucket per key — an API token's hash (a new token
never inherits a revoked one's), or a client's address for tokens that are not known
(guessing). The HTTP API and the MCP server each keep theirs, with these rules."""

from __future__ import annotations

import math
from collections.abc import Hashable

# Requests with a token that is not known, per client address and minute, before 429.
FAILED_TOKENS_PER_MINUTE = 10
# Buckets kept before the full ones are forgotten (a full bucket is the same as none).
MOST_BUCKETS = 10_000


class RateLimit:
    """A token bucket per key (an API token's hash, a client's address): `per_minute`
    requests, refilled evenly."""

    def __init__(self, per_minute: int, most: int = MOST_BUCKETS) -> None:
        self.per_minute, self.most = per_minute, most
        self.buckets: dict[Hashable, tuple[float, float]] = {}  # key → (requests left, at)

    def wait(self, key: Hashable, at: float) -> float:
        """0 when the request may go ahead (and it is counted), else seconds to wait."""
        left, since = self.buckets.get(key, (float(self.per_minute), at))
        left = min(float(self.per_minute), left + (at - since) * self.per_minute / 60)
        if left < 1:
            self.buckets[key] = (left, at)
            return (1 - left) * 60 / self.per_minute
        if key not in self.buckets and len(self.buckets) >= self.most:
            self._forget(at)
        self.buckets[key] = (left - 1, at)
        return 0.0

    def _forget(self, at: float) -> None:
        """Drop the buckets full again by now; if too many are still in use (many
        addresses at once), the longest unused half."""
        refill = 60 / self.per_minute
        self.buckets = {
            key: (left, since)
            for key, (left, since) in self.buckets.items()
            if left + (at - since) / refill < self.per_minute
        }
        if len(self.buckets) >= self.most:
            recent = sorted(self.buckets.items(), key=lambda item: item[1][1])[self.most // 2 :]
            self.buckets = dict(recent)


def too_many(wait: float, what: str) -> tuple[str, str]:
    """The whole seconds to wait (for `Retry-After`) and the refusal in words."""
    retry = str(math.ceil(wait))
    return retry, f"Too many requests with {what}; try again in {retry} s."
