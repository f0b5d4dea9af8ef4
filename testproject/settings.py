"""Settings of the testproject: the demo site and the test suite's base settings."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-testproject-only")
DEBUG = env.bool("DEBUG", default=True)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks",
    "testproject.blog",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "testproject.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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
WSGI_APPLICATION = "testproject.wsgi.application"

# The embedded default is a SQLite file; DATABASE_URL (postgres://... or mysql://...) selects
# a server.
DATABASES = {
    "default": env.db_url_config(
        env.str("DATABASE_URL", default="") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
    ),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker children) share the file: WAL lets readers run beside
    # the one writer, and a generous busy timeout queues writers instead of failing them.
    # IMMEDIATE takes the write lock at BEGIN: a deferred transaction that reads first and
    # then writes (a login, a comment under ATOMIC_REQUESTS) cannot wait for the lock in WAL
    # mode and fails at once with "database is locked", whatever the timeout.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    # MySQL / MariaDB: 4-byte UTF-8 (Django's recommendation) and READ COMMITTED (Django's
    # default, named here: SKIP LOCKED claims rely on it); the test database likewise.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("charset", "utf8mb4")
    DATABASES["default"]["OPTIONS"].setdefault("isolation_level", "read committed")
    DATABASES["default"].setdefault("TEST", {}).update(
        {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
    )
    # Django warns that MySQL has no partial indexes: django_tasks' migration 0006 puts
    # indexes on virtual columns in their place (README, "Databases").
    SILENCED_SYSTEM_CHECKS = ["models.W037"]
# Comments are saved and their spam check enqueued in one transaction per request.
DATABASES["default"]["ATOMIC_REQUESTS"] = True

AUTH_PASSWORD_VALIDATORS = []
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "admin:login"

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
ADMINS = [("Admin", "admin@example.com")]

DJANGO_TASKS = {
    "TRACK_STARTED": True,
}

# The blog's spam filter asks Akismet when a key is set, else scores comments locally.
AKISMET_API_KEY = env.str("AKISMET_API_KEY", default="")
AKISMET_SITE_URL = env.str("AKISMET_SITE_URL", default="http://127.0.0.1:8000/")
SPAM_BLOCKED_WORDS = env.list(
    "SPAM_BLOCKED_WORDS", default=["viagra", "casino", "lottery", "crypto giveaway", "cheap pills"]
)
SPAM_MAX_LINKS = env.int("SPAM_MAX_LINKS", default=2)
# Comments one client address may post per minute (blog/ratelimit.py); None (0 in the
# environment): no limit.
BLOG_COMMENTS_PER_MINUTE = env.int("BLOG_COMMENTS_PER_MINUTE", default=5) or None

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_tasks": {"handlers": ["console"], "level": "INFO", "propagate": False}},
}
