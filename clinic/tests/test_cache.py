import threading

from django.conf import settings
from django.core.cache import caches

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
