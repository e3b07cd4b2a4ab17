"""The Redis cache backend, with one client per connection pool instead of one per call, and the write
throttle's sliding window in one round trip.

Django's RedisCacheClient builds a new `redis.Redis` for every cache call; its constructor fills a table of
some 170 response callbacks, about a quarter of a millisecond, twice per write (the write throttle's get and
set). A `redis.Redis` over a connection pool is thread-safe (each command borrows a connection from the pool),
and the pool itself notices a fork and starts afresh, so one client per pool serves the whole process.
"""

import os

from django.core.cache.backends import redis
from django.utils.functional import cached_property


class ReusedClientRedisCacheClient(redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            if index not in self._pools:
                self._pools[index] = self._pool_class.from_url(self._servers[index], **self._pool_options)
            client = self._clients[index] = self._client(connection_pool=self._pools[index])
        return client


class RedisCache(redis.RedisCache):
    """django.core.cache.backends.redis.RedisCache (same options, same behaviour) with reused clients."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedClientRedisCacheClient

    @cached_property
    def _sliding_window_script(self):
        return self._cache.get_client(write=True).register_script(SLIDING_WINDOW_HIT)

    def sliding_window_hit(self, key: str, *, now: float, duration: int, limit: int) -> tuple[bool, int, float | None]:
        """Count a request at `now` under `key` unless `limit` requests are held from the last `duration`
        seconds: (allowed, requests held, the oldest held one's time). For the write throttle."""
        key = self.make_and_validate_key(key) + ":window"
        member = f"{now!r}:{os.urandom(6).hex()}"  # distinct even for two requests at the same instant
        client = self._cache.get_client(key, write=True)
        allowed, held, oldest = self._sliding_window_script(
            keys=[key], args=[repr(now), repr(now - duration), limit, duration, member], client=client
        )
        return bool(allowed), int(held), float(oldest) if oldest else None


# One request's hit on a sliding window of `limit` requests per `duration` seconds, as DRF's SimpleRateThrottle
# keeps it (timestamps newer than now - duration; a request is refused, and not counted, once `limit` are held),
# in a sorted set, in one round trip. Returns {allowed, requests held, the oldest one's time or ""}.
SLIDING_WINDOW_HIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local held = redis.call('ZCARD', KEYS[1])
if held >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, held, oldest[2]}
end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {1, held + 1, ''}
"""
