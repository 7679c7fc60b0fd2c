"""Rate limiting of client frames: a token bucket per connection."""

import time


class TokenBucket:
    """Allows `rate` frames per second on average and bursts of up to `burst` frames."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.capacity = float(max(burst, 1))
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def take(self) -> bool:
        """Spend one token if there is one; False means the frame is over the limit."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
