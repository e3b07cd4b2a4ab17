"""Settings shared by every environment, read from the environment (see .env.example).

`local` (make run), `test` (make test) and `production` import this module and change only what differs.
"""

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "clinic.staffadmin.apps.ClinicAdminConfig",  # django.contrib.admin with the clinic's dashboard as home
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Platform first, then the journey in dependency order (each app may import only those above it).
    "clinic.accounts",
    "clinic.api",
    "clinic.audit",
    "clinic.notifications",
    "patients",
    "treatment",
    "treatment.detox",
    "treatment.therapy",
    "aftercare",  # last: it registers its stage guards and handlers with treatment
]

MIDDLEWARE = [
    "clinic.request_context.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "clinic.urls"
WSGI_APPLICATION = "clinic.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
# The patient model the platform's reminders point at; like AUTH_USER_MODEL, so clinic/ never imports patients.
CLINIC_PATIENT_MODEL = "patients.Patient"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "clinic" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database: SQLite by default (make run), PostgreSQL when DATABASE_URL is set. -----------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'clinic.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and immediate transactions let the web process, the worker and beat share one SQLite file.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Parameters bound by the server instead of spliced into the SQL text: psycopg then prepares a statement
    # the connection has run a few times, and PostgreSQL stops planning it anew on every request (1-2 ms
    # for a scoped list's joins).
    if env.bool("DATABASE_SERVER_SIDE_BINDING", default=True):
        DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, throttling and the Celery broker when REDIS_URL is set. --------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "clinic.cache.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Passwords: Argon2id. See docs/security.md for how the costs were chosen. ----------------------------
PASSWORD_HASHERS = [
    "clinic.accounts.hashers.ClinicArgon2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- REST API ---------------------------------------------------------------------------------------------
# NUM_PROXIES = 0 makes throttling key on the socket address; a client cannot escape it with
# X-Forwarded-For. Behind a reverse proxy set TRUSTED_PROXY_COUNT to the number of proxies.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "clinic.accounts.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["clinic.api.permissions.RolePermission"],
    "DEFAULT_PAGINATION_CLASS": "clinic.api.pagination.StableCursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "clinic.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["clinic.api.throttling.WriteRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "login_address": env.str("THROTTLE_LOGIN_ADDRESS", default="30/min"),
        "login_account": env.str("THROTTLE_LOGIN_ACCOUNT", default="10/min"),
        "writes": env.str("THROTTLE_WRITES", default="120/min"),
    },
    "NUM_PROXIES": env.int("TRUSTED_PROXY_COUNT", default=0),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DATETIME_FORMAT": "iso-8601",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SIMPLE_JWT = {
    # Access tokens cannot be revoked, so they live only minutes; refresh tokens rotate and the old one is
    # blacklisted, and revoking a device blacklists its refresh tokens (see clinic.accounts.services).
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=5)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=14)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}
if env.str("JWT_SIGNING_KEY", default=""):
    SIMPLE_JWT["SIGNING_KEY"] = env.str("JWT_SIGNING_KEY")

SPECTACULAR_SETTINGS = {
    "TITLE": "Recovery clinic case management API",
    "DESCRIPTION": (
        "Case management for addiction-treatment clinics. Every error has the shape "
        '`{"error": {"code", "message", "fields"}}`. Lists use cursor pagination.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "clinic.api.schema.postprocess_schema",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",  # served locally: no CDN at run time
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Choice sets whose field names collide across resources get explicit names (import paths, not imports).
    "ENUM_NAME_OVERRIDES": {
        "PatientStatusEnum": "patients.models.Patient.Status",
        "ConditionStatusEnum": "patients.models.CoOccurringCondition.Status",
        "DisclosureInformationEnum": "patients.models.DisclosureConsent.Information",
        "StageEnum": "treatment.models.Stage",
        "EpisodeSettingEnum": "treatment.models.Setting",
        "DischargeReasonEnum": "treatment.models.DischargeReason",
        "AlertSeverityEnum": "treatment.models.Alert.Severity",
        "AllergySeverityEnum": "patients.models.Allergy.Severity",
        "TherapyModalityEnum": "treatment.therapy.models.Modality",
        "AttendanceStatusEnum": "treatment.therapy.models.AttendanceStatus",
        "AttendanceOutcomeEnum": "treatment.therapy.api.serializers.OUTCOMES",
        "TherapySessionKindEnum": "treatment.therapy.models.TherapySession.Kind",
        "GroupSessionStatusEnum": "treatment.therapy.models.GroupSession.Status",
        "PlanObjectiveStatusEnum": "treatment.therapy.models.PlanObjective.Status",
        "AppointmentKindEnum": "treatment.therapy.models.Appointment.Kind",
        "ContactKindEnum": "patients.models.PatientContact.Kind",
        "SubstanceRouteEnum": "patients.models.SubstanceUseHistory.Route",
        "SubstanceUseFrequencyEnum": "patients.models.SubstanceUseHistory.Frequency",
        "MedicationRouteEnum": "treatment.detox.models.Route",
        "DoseUnitEnum": "treatment.detox.models.DoseUnit",
        "MedicationFrequencyEnum": "treatment.detox.models.Frequency",
        "AdministrationOutcomeEnum": "treatment.detox.models.MedicationAdministration.Outcome",
        "TriggerCategoryEnum": "aftercare.models.TriggerCategory",
        "ProviderCheckInOutcomeEnum": "aftercare.models.ProviderCheckIn.Outcome",
    },
}

# --- Celery: Redis when REDIS_URL is set, otherwise kombu's filesystem transport (no server needed). ---
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)  # the transport expects the folders
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
else:
    # Longer than any task's hard time limit, so an unacknowledged task is redelivered only when its
    # worker is really gone.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Every periodic task, in one place.
CELERY_BEAT_SCHEDULE = {
    "audit-seal-chain": {"task": "clinic.audit.tasks.audit_seal_chain", "schedule": 30.0},
    "idempotency-purge": {"task": "clinic.api.tasks.idempotency_purge_expired", "schedule": 3600.0},
    # Claims due reminders and enqueues one send task each; a run nobody picked up within the minute is dropped.
    "reminders-dispatch-due": {
        "task": "clinic.notifications.tasks.reminders_dispatch_due",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Flags detox observation rounds 30 minutes past due and alerts their nurse, once per round.
    "detox-rounds-flag-overdue": {
        "task": "treatment.detox.tasks.detox_rounds_flag_overdue",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # Therapy: reminds the primary counselor of each plan review that fell due (once per due date), and the
    # author of each note still unsigned 72 hours after it was started (once per note).
    "therapy-plan-reviews-remind-due": {
        "task": "treatment.therapy.tasks.plan_reviews_remind_due",
        "schedule": 900.0,
        "options": {"expires": 840},
    },
    "therapy-notes-remind-unsigned": {
        "task": "treatment.therapy.tasks.notes_remind_unsigned",
        "schedule": 900.0,
        "options": {"expires": 840},
    },
    # Aftercare: follow-up check-ins past their grace period become missed and alert the case manager; every
    # patient in aftercare gets their next daily check-in prompt; two or more missed days in a row alert the
    # primary counselor once per run.
    "aftercare-provider-check-ins-mark-missed": {
        "task": "aftercare.tasks.provider_check_ins_mark_missed",
        "schedule": 900.0,
        "options": {"expires": 840},
    },
    "aftercare-check-in-prompts-schedule": {
        "task": "aftercare.tasks.check_in_prompts_schedule",
        "schedule": 900.0,
        "options": {"expires": 840},
    },
    "aftercare-missed-check-in-streaks": {
        "task": "aftercare.tasks.missed_check_in_streaks_alert",
        "schedule": 900.0,
        "options": {"expires": 840},
    },
}

# --- Reminders (clinic.notifications): a backend per channel, retries, leases. -----------------------------
# Backends: "file" (JSON lines at NOTIFICATIONS_FILE_PATH), "console", "django_email" (EMAIL_BACKEND, e.g.
# SMTP) or "http" (POST to NOTIFICATIONS_HTTP_<CHANNEL>_URL with an Idempotency-Key header), or a dotted path.
NOTIFICATIONS = {
    "BACKEND": env.str("NOTIFICATIONS_BACKEND", default="file"),
    "CHANNEL_BACKENDS": {
        channel: env.str(f"NOTIFICATIONS_{channel.upper()}_BACKEND", default="") for channel in ("email", "sms", "push")
    },
    "FILE_PATH": env.str("NOTIFICATIONS_FILE_PATH", default=str(VAR_DIR / "outbox.jsonl")),
    "HTTP_URLS": {
        channel: env.str(f"NOTIFICATIONS_HTTP_{channel.upper()}_URL", default="") for channel in ("sms", "push")
    },
    "HTTP_TOKEN": env.str("NOTIFICATIONS_HTTP_TOKEN", default=""),
    "HTTP_TIMEOUT": env.float("NOTIFICATIONS_HTTP_TIMEOUT", default=10.0),
    "FROM_EMAIL": env.str("NOTIFICATIONS_FROM_EMAIL", default=""),
    "MAX_ATTEMPTS": env.int("NOTIFICATIONS_MAX_ATTEMPTS", default=5),
    "BACKOFF_SECONDS": env.int("NOTIFICATIONS_BACKOFF_SECONDS", default=30),
    # How long a claimed reminder may wait in the queue, and a started send may run, before it is taken again.
    "CLAIM_LEASE_SECONDS": env.int("NOTIFICATIONS_CLAIM_LEASE_SECONDS", default=600),
    "SEND_LEASE_SECONDS": env.int("NOTIFICATIONS_SEND_LEASE_SECONDS", default=120),
    "BATCH_SIZE": env.int("NOTIFICATIONS_BATCH_SIZE", default=500),
    # Claimed reminders per send task: each chunk is loaded, begun, delivered and recorded in bulk.
    "SEND_CHUNK_SIZE": env.int("NOTIFICATIONS_SEND_CHUNK_SIZE", default=100),
}

# --- Logging: ids only, never patient data. ---------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "level": env.str("LOG_LEVEL", default="INFO"),
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Demo data (seed_demo) and the facility-wide defaults the domain apps read.
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="demo-pass-123")
