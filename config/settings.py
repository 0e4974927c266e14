"""Settings, read from environment variables.

With neither DATABASE_URL nor REDIS_URL set, nurture runs on an embedded default: an SQLite
file and kombu's filesystem broker, both under var/ (VAR_DIR).
"""

import datetime as dt
from pathlib import Path

import dj_database_url
import django_stubs_ext
from csp.constants import NONE, SELF, UNSAFE_INLINE
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
    # Login throttling: failed attempts per username and per client address (see "Logging in" below).
    "axes",
    "csp",
    # The REST API (config/api.py): its docs page's templates and static files.
    "ninja",
    "nurture",
    "campaigns",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # The Content-Security-Policy header (CONTENT_SECURITY_POLICY below).
    "config.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # The REST API refuses NUL characters, which no PostgreSQL text column holds (config/api.py).
    "config.api.RefuseNulCharacters",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Records the signed-in user as the actor of audit log entries.
    "auditlog.middleware.AuditlogMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
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
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Logging in: the admin's login page (config/login.py), which lands on Today.
LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "today"
# django-axes refuses logins after NURTURE_LOGIN_FAILURE_LIMIT failed attempts for one username, or
# from one client address, within NURTURE_LOGIN_COOLOFF_MINUTES; the lock lifts by itself after that
# long without a failed attempt. Unlock sooner: `manage.py axes_reset_username USER`, `axes_reset`,
# or delete the row under Axes > Access attempts in the admin.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("NURTURE_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("NURTURE_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
# Two separate counters: one per username (from anywhere), one per client address (any username).
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_CALLABLE = "config.login.lockout_response"
AXES_CLIENT_IP_CALLABLE = "config.login.client_ip"
# No "AXES: BEGIN" line in every process's log; failed and refused logins are still logged.
AXES_VERBOSE = False
# Behind proxies: how many of them append the client's address to NURTURE_CLIENT_IP_HEADER. 0 (the
# default) uses the connection's own address and never trusts a header a client could have sent.
NURTURE_TRUSTED_PROXIES = env_int("NURTURE_TRUSTED_PROXIES", 0, minimum=0)
NURTURE_CLIENT_IP_HEADER = env_str("NURTURE_CLIENT_IP_HEADER", "X-Forwarded-For")

# HTTPS. Behind a TLS-terminating proxy, NURTURE_TRUST_X_FORWARDED_PROTO says that the proxy sets
# X-Forwarded-Proto (and overwrites a client's); never set it when clients can reach `web` directly.
if env_bool("NURTURE_TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# NURTURE_HTTPS: the site is served over HTTPS only. Cookies are sent over HTTPS only, browsers are
# told to use nothing else (HSTS), and plain HTTP is redirected, except /health/, which a load
# balancer may probe over plain HTTP.
NURTURE_HTTPS = env_bool("NURTURE_HTTPS", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT = NURTURE_HTTPS
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SECURE_HSTS_SECONDS = env_int("NURTURE_HSTS_SECONDS", 31_536_000, minimum=0) if NURTURE_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("NURTURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("NURTURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Scripts only from our own files: no inline script, no eval (a script a template needs goes in a
# static file). Inline styles stay allowed: the admin's own templates (the change list, the audit
# log) and some list columns carry <style> blocks and style attributes, which no nonce can cover.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Scripts of the project's own admin templates (files, so that the Content-Security-Policy allows them).
STATICFILES_DIRS = [BASE_DIR / "config" / "static"]
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
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # A message not acknowledged within this time is delivered again (tasks ack late).
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
        # A Redis that is down or hung fails a publish within seconds instead of blocking the
        # request that committed the change (nurture/publishing.py); without these a connection
        # to an unreachable host waits for the kernel's timeout and a hung one forever.
        "socket_connect_timeout": env_int("CELERY_BROKER_CONNECT_TIMEOUT", 2, minimum=1),
        "socket_timeout": env_int("CELERY_BROKER_SOCKET_TIMEOUT", 5, minimum=2),
    }
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
    "campaigns.tasks.check_overdue_card_fits": {"queue": "rendering"},
    # The customer import's check and import: the default queue (their progress shows in the admin).
    "nurture.tasks.*": {"queue": "celery"},
}
# A worker consumes every queue listed here unless started with -Q.
CELERY_TASK_QUEUES = [Queue("celery"), Queue("planning"), Queue("rendering")]
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# Retention (campaigns/services/pruning.py, nightly): days kept. An Idempotency-Key is honoured as
# long as it is kept. Webhook events stay at least a few days longer than touchpoint.due looks
# back (services.webhooks.DUE_LOOKBACK_DAYS), or a deleted one would be announced again.
NURTURE_IDEMPOTENCY_KEEP_DAYS = env_int("NURTURE_IDEMPOTENCY_KEEP_DAYS", 7, minimum=1)
NURTURE_WEBHOOK_EVENTS_KEEP_DAYS = env_int("NURTURE_WEBHOOK_EVENTS_KEEP_DAYS", 30, minimum=14)
NURTURE_WEBHOOK_FAILED_KEEP_DAYS = env_int("NURTURE_WEBHOOK_FAILED_KEEP_DAYS", 90, minimum=14)
NURTURE_CRM_RECEIPTS_KEEP_DAYS = env_int("NURTURE_CRM_RECEIPTS_KEEP_DAYS", 30, minimum=7)
# The job log (nurture_jobrun): finished runs; each task's latest run and unfinished runs always stay.
NURTURE_JOBRUN_KEEP_DAYS = env_int("NURTURE_JOBRUN_KEEP_DAYS", 30, minimum=1)

# The planner (see campaigns/services/planning.py).
NURTURE_PLAN_HORIZON_DAYS = env_int("NURTURE_PLAN_HORIZON_DAYS", 60, minimum=1)
NURTURE_PLAN_CHUNK_SIZE = env_int("NURTURE_PLAN_CHUNK_SIZE", 20000, minimum=1)
# The health endpoint and the admin banner call the planner stale after this many hours.
NURTURE_PLANNER_STALE_HOURS = env_int("NURTURE_PLANNER_STALE_HOURS", 3, minimum=1)
# At most N touchpoints per customer in M days ("N/M", e.g. "3/30"); empty for no cap.
NURTURE_FREQUENCY_CAP = env_ratio("NURTURE_FREQUENCY_CAP")
# Print batches: cards per rendering chunk (one task each; rounded to whole sheets).
NURTURE_BATCH_CHUNK_SIZE = env_int("NURTURE_BATCH_CHUNK_SIZE", 50, minimum=1)
# Print batches: cards per print file at most (a whole number of chunks, each file downloadable
# as soon as it is joined).
NURTURE_BATCH_FILE_SIZE = env_int("NURTURE_BATCH_FILE_SIZE", 500, minimum=1)

# The REST API: at most N requests per token in M seconds ("N/M"); past it, 429 with Retry-After.
# Counted in Redis when REDIS_URL is set, otherwise in each process's memory. Empty: no limit.
NURTURE_API_RATE_LIMIT = env_ratio("NURTURE_API_RATE_LIMIT", "600/60")

# CRM adapters (docs/api.md, "CRM adapters"): each endpoint answers 404 until its secret is set.
# HubSpot: the app's client secret (signs signature v3) and the user whose customers it feeds.
NURTURE_HUBSPOT_CLIENT_SECRET = env_str("NURTURE_HUBSPOT_CLIENT_SECRET")
NURTURE_HUBSPOT_OWNER = env_str("NURTURE_HUBSPOT_OWNER")
# Pipedrive: the HTTP Basic credentials set on the Pipedrive webhook, and the owner.
NURTURE_PIPEDRIVE_USERNAME = env_str("NURTURE_PIPEDRIVE_USERNAME")
NURTURE_PIPEDRIVE_PASSWORD = env_str("NURTURE_PIPEDRIVE_PASSWORD")
NURTURE_PIPEDRIVE_OWNER = env_str("NURTURE_PIPEDRIVE_OWNER")

# Webhooks: hosts that may receive webhooks although they resolve to a private, loopback or
# link-local address (comma-separated names, e.g. "hooks.internal,127.0.0.1"); empty by default.
NURTURE_WEBHOOK_ALLOWED_HOSTS = env_list("NURTURE_WEBHOOK_ALLOWED_HOSTS")
# A 29 February milestone in a non-leap year: "feb28" (default) or "mar1".
NURTURE_LEAP_DAY = env_str("NURTURE_LEAP_DAY", "feb28")
if NURTURE_LEAP_DAY not in ("feb28", "mar1"):
    raise RuntimeError(f"NURTURE_LEAP_DAY={NURTURE_LEAP_DAY!r} must be feb28 or mar1")
# The holdout: this percentage of new customers (0 to 50; 0, the default, for none) is drawn at
# random when created and gets no touchpoints, for the retention report (docs/reports.md).
NURTURE_HOLDOUT_PERCENT = env_int("NURTURE_HOLDOUT_PERCENT", 0, minimum=0, maximum=50)
# Referrals (docs/referrals.md): a new referral qualifies after this many days of review (0, the
# default: at once); until then it is pending and can be voided before the referrer is thanked.
NURTURE_REFERRAL_REVIEW_DAYS = env_int("NURTURE_REFERRAL_REVIEW_DAYS", 0, minimum=0, maximum=365)
# Reports (docs/reports.md): a touchpoint done within this many business days of its due date is
# on time; a renewal counts as kept when the customer has not churned this many days after it.
NURTURE_REPORT_ON_TIME_BUSINESS_DAYS = env_int("NURTURE_REPORT_ON_TIME_BUSINESS_DAYS", 3, minimum=0)
NURTURE_RETENTION_DAYS = env_int("NURTURE_RETENTION_DAYS", 30, minimum=0)
# The nightly report job's first run writes the figures of this many past days (then one a night).
NURTURE_REPORT_BACKFILL_DAYS = env_int("NURTURE_REPORT_BACKFILL_DAYS", 400, minimum=1)
# The monthly report pack goes out on the first working day of the month: Monday to Friday, minus
# the public holidays of this country (ISO code, e.g. GB; empty for weekdays only).
NURTURE_REPORTS_COUNTRY = env_str("NURTURE_REPORTS_COUNTRY", "").upper()
