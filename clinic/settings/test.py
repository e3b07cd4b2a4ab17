"""Tests: `make test`, against real PostgreSQL and Redis (override with DATABASE_URL / REDIS_URL)."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/clinic")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")

from .base import *  # noqa: E402, F403
from .base import REST_FRAMEWORK, env  # noqa: E402

DEBUG = False
SECRET_KEY = "test-only-secret-key-with-enough-length-for-hs256-signing"  # noqa: S105
# Argon2 is measured in the suite's own test; elsewhere a fast hasher keeps fixtures cheap.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# Each xdist worker gets its own Redis database (the one in REDIS_URL plus 1 + the worker's number), so
# throttling and idempotency keys of parallel workers never collide and clearing one never touches another.
_worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
_redis_base, _redis_db = env.str("REDIS_URL").rsplit("/", 1)
CACHES = {
    "default": {
        "BACKEND": "clinic.cache.RedisCache",
        "LOCATION": f"{_redis_base}/{(int(_redis_db or 0) + 1 + _worker) % 16}",
    }
}
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"login_address": "1000/min", "login_account": "1000/min", "writes": "10000/min"},
}
