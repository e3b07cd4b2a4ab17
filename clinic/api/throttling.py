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
    """Per-user limit on writes (POST/PUT/PATCH/DELETE); reads are not counted."""

    scope = "writes"

    def allow_request(self, request, view):
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return True
        return super().allow_request(request, view)
