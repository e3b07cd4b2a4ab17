"""The Redis cache backend, with one client per connection pool instead of one per call.

Django's RedisCacheClient builds a new `redis.Redis` for every cache call; its constructor fills a table of
some 170 response callbacks, about a quarter of a millisecond, twice per write (the write throttle's get and
set). A `redis.Redis` over a connection pool is thread-safe (each command borrows a connection from the pool),
and the pool itself notices a fork and starts afresh, so one client per pool serves the whole process.
"""

from django.core.cache.backends import redis


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
