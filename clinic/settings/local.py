"""Development: `make run`. SQLite and the filesystem broker unless DATABASE_URL / REDIS_URL are set."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="") or "insecure-local-development-key-not-for-production"
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
