"""Settings, read from environment variables.

With neither DATABASE_URL nor REDIS_URL set, nurture runs on an embedded default: an SQLite
file and kombu's filesystem broker, both under var/ (VAR_DIR).
"""

from pathlib import Path

import dj_database_url
import django_stubs_ext
from kombu import Queue

from config.env import env_bool, env_int, env_list, env_ratio, env_str, secret_key_file

# Lets annotated code subscript generic Django classes (ModelAdmin[Customer]) at run time.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY", "") or secret_key_file(VAR_DIR / "secret_key")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "auditlog",
    "nurture",
    "campaigns",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Records the signed-in user as the actor of audit log entries.
    "auditlog.middleware.AuditlogMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.planner_health",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL", "")
# Workers, Beat and web share an SQLite file: wait for locks instead of failing at once.
_SQLITE_OPTIONS = {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"]["OPTIONS"] = _SQLITE_OPTIONS
        DATABASES["default"]["CONN_MAX_AGE"] = 0
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "nurture.sqlite3"),
            "OPTIONS": _SQLITE_OPTIONS,
            # A file, not memory: the tests' Celery worker processes open the same database.
            "TEST": {"NAME": str(VAR_DIR / "test.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # WeasyPrint logs every step of every page at INFO.
        "weasyprint.progress": {"level": "WARNING"},
    },
}

# E-mail: SMTP when EMAIL_HOST is set, otherwise files under var/mail (visible in development).
EMAIL_HOST = env_str("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "nurture@localhost")

# Celery: Redis when REDIS_URL is set, kombu's filesystem transport under var/ otherwise.
REDIS_URL = env_str("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "filesystem://localhost//"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if not REDIS_URL:
    _queue_dir = VAR_DIR / "broker"
    for _folder in ("queue", "processed", "control"):
        (_queue_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir / "queue"),
        "data_folder_out": str(_queue_dir / "queue"),
        "processed_folder": str(_queue_dir / "processed"),
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
else:
    # A message not acknowledged within this time is delivered again (tasks ack late).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# Long renders have their own queue so they never delay planning; the Procfile's worker takes all
# three, and a deployment may run dedicated workers per queue (docs/operations.md).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "campaigns.tasks.plan_*": {"queue": "planning"},
    "campaigns.tasks.replan_*": {"queue": "planning"},
    "campaigns.tasks.draft_*": {"queue": "planning"},
    "campaigns.tasks.render_*": {"queue": "rendering"},
    "campaigns.tasks.finish_batch": {"queue": "rendering"},
    "campaigns.tasks.check_card_fits": {"queue": "rendering"},
}
# A worker consumes every queue listed here unless started with -Q.
CELERY_TASK_QUEUES = [Queue("celery"), Queue("planning"), Queue("rendering")]
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# The planner (see campaigns/services/planning.py).
NURTURE_PLAN_HORIZON_DAYS = env_int("NURTURE_PLAN_HORIZON_DAYS", 60, minimum=1)
NURTURE_PLAN_CHUNK_SIZE = env_int("NURTURE_PLAN_CHUNK_SIZE", 20000, minimum=1)
# The health endpoint and the admin banner call the planner stale after this many hours.
NURTURE_PLANNER_STALE_HOURS = env_int("NURTURE_PLANNER_STALE_HOURS", 3, minimum=1)
# At most N touchpoints per customer in M days ("N/M", e.g. "3/30"); empty for no cap.
NURTURE_FREQUENCY_CAP = env_ratio("NURTURE_FREQUENCY_CAP")
# Print batches: cards per rendering chunk (one task each; rounded to whole sheets).
NURTURE_BATCH_CHUNK_SIZE = env_int("NURTURE_BATCH_CHUNK_SIZE", 50, minimum=1)
# A 29 February milestone in a non-leap year: "feb28" (default) or "mar1".
NURTURE_LEAP_DAY = env_str("NURTURE_LEAP_DAY", "feb28")
if NURTURE_LEAP_DAY not in ("feb28", "mar1"):
    raise RuntimeError(f"NURTURE_LEAP_DAY={NURTURE_LEAP_DAY!r} must be feb28 or mar1")
