"""Throttles. Login throttles key on the socket address and on the account, so varying X-Forwarded-For or
the address does not escape them (see NUM_PROXIES in settings); writes are limited per user."""

from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle


class LoginAddressThrottle(SimpleRateThrottle):
    scope = "login_address"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginAccountThrottle(SimpleRateThrottle):
    scope = "login_account"

    def get_cache_key(self, request, view):
        data = getattr(request, "data", None)
        # A body that is not a JSON object has no account to key on; the serializer answers it with a 400.
        username = data.get("username") if hasattr(data, "get") else None
        if not isinstance(username, str) or not username.strip():
            return None
        return self.cache_format % {"scope": self.scope, "ident": username.strip().lower()[:150]}


class WriteRateThrottle(UserRateThrottle):
    """Per-user limit on writes (POST/PUT/PATCH/DELETE); reads are not counted.

    DRF's sliding window, kept where the cache can (clinic.cache.RedisCache) as a sorted set updated by one
    script, in one round trip: DRF's get and set of a pickled list are two, and the list grows with the rate.
    The same requests pass and the same Retry-After comes back (wait() reckons as DRF's does).
    """

    scope = "writes"

    def allow_request(self, request, view):
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        hit = getattr(self.cache, "sliding_window_hit", None)
        if self.rate is None or hit is None:
            return super().allow_request(request, view)
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        allowed, self._held, self._oldest = hit(self.key, now=self.now, duration=self.duration, limit=self.num_requests)
        return allowed

    def wait(self):
        """DRF's wait(), from the window's count and oldest request instead of its list."""
        if getattr(self, "_held", None) is None:
            return super().wait()
        remaining = self.duration if self._oldest is None else self.duration - (self.now - self._oldest)
        available = self.num_requests - self._held + 1
        return remaining / float(available) if available > 0 else None
