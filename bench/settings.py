"""Settings for benchmark runs: production settings, plain HTTP on the loopback, and what only a benchmark needs.

- Production (DEBUG off, Argon2 logins, persistent connections, Redis cache), so the figures are those of a
  deployment. HTTPS redirects are off because the load client talks plain HTTP to 127.0.0.1.
- Throttles are raised far above what the load sends: they limit abuse per user, and a benchmark that logs
  in a few users and sends thousands of requests a second would otherwise measure 429s.
- Access tokens live long enough to outlast a run.
- BENCH_QUERY_COUNT=1 adds bench.querycount's middleware (the query count of each request in a header).
- The URL root adds the bare Django floor views (bench.floor) beside the API.
"""

import os
import secrets
import warnings

os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(60))
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("JWT_ACCESS_MINUTES", "240")

from clinic.settings.production import *  # noqa: E402, F403
from clinic.settings.production import MIDDLEWARE, REST_FRAMEWORK, env  # noqa: E402

ROOT_URLCONF = "bench.urls"
# No collected static files are needed to serve the API; WhiteNoise would warn about the missing directory.
warnings.filterwarnings("ignore", message="No directory at")
SECURE_HSTS_SECONDS = 0
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"login_address": "1000000/min", "login_account": "1000000/min", "writes": "1000000/min"},
}
if env.bool("BENCH_QUERY_COUNT", default=False):
    MIDDLEWARE = ["bench.querycount.QueryCountMiddleware", *MIDDLEWARE]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler", "level": "WARNING"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
