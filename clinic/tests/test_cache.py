import threading
import uuid
from types import SimpleNamespace

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from rest_framework.throttling import UserRateThrottle

from clinic.api.throttling import WriteRateThrottle
from clinic.cache import RedisCache


def test_the_cache_backend_is_the_client_reusing_one():
    assert settings.CACHES["default"]["BACKEND"] == "clinic.cache.RedisCache"
    assert isinstance(caches["default"], RedisCache)


def test_one_client_serves_every_call_and_every_thread():
    backend = RedisCache(settings.CACHES["default"]["LOCATION"], {})
    first = backend._cache.get_client("a")
    assert backend._cache.get_client("b", write=True) is first
    clients = []
    threads = [threading.Thread(target=lambda: clients.append(backend._cache.get_client("c"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(client is first for client in clients)


def test_reused_clients_read_and_write_like_django_s_backend():
    backend = RedisCache(settings.CACHES["default"]["LOCATION"], {})
    backend.clear()
    backend.set("history", [3.0, 2.0, 1.0], 30)
    assert backend.get("history") == [3.0, 2.0, 1.0]
    assert backend.add("history", "other", 30) is False
    backend.set_many({"a": 1, "b": {"x": 1}}, 30)
    assert backend.get_many(["a", "b", "missing"]) == {"a": 1, "b": {"x": 1}}
    assert backend.incr("a", 2) == 3
    assert backend.delete("a") is True
    assert backend.get("a", "gone") == "gone"


def _throttle_steps(throttle_class, times, user_pk):
    request = SimpleNamespace(method="POST", user=SimpleNamespace(is_authenticated=True, pk=user_pk))
    steps = []
    for now in times:
        throttle = throttle_class()
        throttle.timer = lambda now=now: now
        allowed = throttle.allow_request(request, None)
        steps.append((now, allowed, None if allowed else throttle.wait()))
    return steps


def test_the_write_throttle_passes_refuses_and_answers_retry_after_like_drf_s(monkeypatch):
    """The same requests through the window in Redis and through DRF's list in a local cache."""

    class DrfWrites(UserRateThrottle):
        scope = "writes"
        cache = LocMemCache("drf-writes", {})
        rate = "3/min"

    monkeypatch.setattr(WriteRateThrottle, "rate", "3/min", raising=False)
    times = [0.0, 1.0, 2.0, 3.0, 30.0, 59.9, 60.0, 60.5, 61.0, 61.5, 62.0, 200.0, 200.0, 200.0, 200.0]
    user_pk = uuid.uuid4().hex
    ours = _throttle_steps(WriteRateThrottle, times, user_pk)
    assert ours == _throttle_steps(DrfWrites, times, user_pk)
    assert [allowed for _, allowed, _ in ours].count(False) == 6
    assert ours[3] == (3.0, False, 57.0)


def test_the_write_throttle_keeps_each_user_s_window_apart_and_skips_reads(monkeypatch):
    monkeypatch.setattr(WriteRateThrottle, "rate", "1/min", raising=False)
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    assert [allowed for _, allowed, _ in _throttle_steps(WriteRateThrottle, [0.0, 1.0], first)] == [True, False]
    assert _throttle_steps(WriteRateThrottle, [1.0], second)[0][1] is True
    read = SimpleNamespace(method="GET", user=SimpleNamespace(is_authenticated=True, pk=first))
    assert WriteRateThrottle().allow_request(read, None) is True


def test_the_write_throttle_keeps_drf_s_way_on_a_cache_without_the_window(monkeypatch):
    """The local-memory cache of `make run` (SQLite, no REDIS_URL) has no sliding_window_hit."""
    monkeypatch.setattr(WriteRateThrottle, "cache", LocMemCache("writes-fallback", {}))
    monkeypatch.setattr(WriteRateThrottle, "rate", "2/min", raising=False)
    steps = _throttle_steps(WriteRateThrottle, [0.0, 1.0, 2.0, 61.0], uuid.uuid4().hex)
    assert steps == [(0.0, True, None), (1.0, True, None), (2.0, False, 58.0), (61.0, True, None)]
