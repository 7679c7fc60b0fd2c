"""Settings shared by every environment; local.py, test.py and production.py build on them.

Values that differ between deployments come from the environment (see .env.example).
A .env file next to manage.py is read for local development and tests
(DJANGO_READ_DOT_ENV=0 turns that off); real environment variables always win over it.
Production settings never read it.
"""

import os
from pathlib import Path

import environ
from csp.constants import NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent.parent
APPS_DIR = BASE_DIR / "{{ cookiecutter.project_slug }}"

env = environ.Env()
# Never in production, whatever DJANGO_READ_DOT_ENV says: a checkout's development key
# must not quietly become the production key when DJANGO_SECRET_KEY is missing.
production = os.environ.get("DJANGO_SETTINGS_MODULE") == "config.settings.production"
if not production and env.bool("DJANGO_READ_DOT_ENV", default=True):
    env.read_env(BASE_DIR / ".env")

PROJECT_NAME = {{ cookiecutter.project_name | tojson }}

# Application definition

INSTALLED_APPS = [
    # daphne must come first: its runserver serves websockets as well as HTTP.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "{{ cookiecutter.project_slug }}.core",
    "{{ cookiecutter.project_slug }}.users",
]

# The project's own user model, from the first migration on (users/models.py).
AUTH_USER_MODEL = "users.User"

MIDDLEWARE = [
    # First: /health/ answers probes by IP and over plain HTTP (core/health.py).
    "{{ cookiecutter.project_slug }}.core.health.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

{%- if cookiecutter.use_auth %}

# Authentication: every page needs a logged-in user unless its view is marked
# @login_not_required (after AuthenticationMiddleware, which the list above has). Sessions
# are Django's database sessions that remember their row's expiry date, so a websocket
# knows when its session ends without another query (core/sessions.py).
MIDDLEWARE += ["django.contrib.auth.middleware.LoginRequiredMiddleware"]
SESSION_ENGINE = "{{ cookiecutter.project_slug }}.core.sessions"
{%- endif %}

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [APPS_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "{{ cookiecutter.project_slug }}.core.context_processors.project",
            ],
        },
    },
]

ASGI_APPLICATION = "config.asgi.application"

# Database: DATABASE_URL, e.g. postgres://user:password@host:5432/name or sqlite:///path.
{%- if cookiecutter.database == "postgresql" %}
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/{{ cookiecutter.project_slug }}"
{%- else %}
DEFAULT_DATABASE_URL = f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
{%- endif %}
# An empty DATABASE_URL (as in a copied .env.example) means "use the default".
DATABASE_URL = env.str("DATABASE_URL", default="") or DEFAULT_DATABASE_URL
DATABASES = {"default": env.db_url_config(DATABASE_URL)}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Channel layer: how consumers in different processes reach each other (groups, broadcast).
# The in-memory layer only reaches consumers of the same process; local.py and
# production.py choose the project's layer.
# Every socket renews its group memberships a third of this often (core/websocket.py):
# members that stop renewing (a killed process's) leave their groups within this time.
WS_GROUP_EXPIRY_SECONDS = env.int("WS_GROUP_EXPIRY_SECONDS", default=60)
IN_MEMORY_CHANNEL_LAYER = {
    "BACKEND": "channels.layers.InMemoryChannelLayer",
    "CONFIG": {"group_expiry": WS_GROUP_EXPIRY_SECONDS},
}
CHANNEL_LAYERS = {"default": IN_MEMORY_CHANNEL_LAYER}

# The production server's limits per process (config/serve.py): connections past
# WEB_MAX_CONNECTIONS get 503 at once, and a websocket sending more than
# WS_MAX_FRAMES_PER_SECOND frames of any kind is closed with 1008. 0 turns either off.
WEB_MAX_CONNECTIONS = env.int("WEB_MAX_CONNECTIONS", default=2000)
WS_MAX_FRAMES_PER_SECOND = env.int("WS_MAX_FRAMES_PER_SECOND", default=100)

# GET /health/ runs one check at a time per process and reuses its result this long.
HEALTH_CACHE_SECONDS = env.float("HEALTH_CACHE_SECONDS", default=1.0)

# Password validation

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# Internationalization

LANGUAGE_CODE = "en-us"
TIME_ZONE = {{ cookiecutter.timezone | tojson }}
USE_I18N = True
USE_TZ = True

# Content-Security-Policy on every response (django-csp): scripts, styles and
# connections (websockets included) from this site only, no inline script, no framing.
# Data a page hands its script travels in json_script blocks, which are not executed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Permissions-Policy on every response (django-permissions-policy): no page of this site
# uses these browser features, so none may, nor any frame it embeds. Allow one by naming
# its origins, e.g. "geolocation": ["self"].
PERMISSIONS_POLICY: dict[str, list[str]] = {
    feature: []
    for feature in (
        "accelerometer",
        "camera",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
}

# Static files, served by WhiteNoise in every environment.

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [APPS_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, compressed names: cache forever. Needs `collectstatic` unless DEBUG is on.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# Files browsers ask for at the site's root (/favicon.ico), under their own names.
WHITENOISE_ROOT = APPS_DIR / "public"
{%- if cookiecutter.include_sample_consumer %}

# The sample chat. Its rate limit and socket count are per user (the client address for
# guests) and per server process; 0 turns either off. The others are per socket.
INSTALLED_APPS += ["{{ cookiecutter.project_slug }}.chat"]
WS_RATE_PER_SECOND = env.float("WS_RATE_PER_SECOND", default=10.0)
WS_RATE_BURST = env.int("WS_RATE_BURST", default=20)
WS_MAX_CONNECTIONS_PER_USER = env.int("WS_MAX_CONNECTIONS_PER_USER", default=20)
WS_MAX_MESSAGE_CHARS = env.int("WS_MAX_MESSAGE_CHARS", default=2000)
WS_MAX_BAD_MESSAGES = env.int("WS_MAX_BAD_MESSAGES", default=10)
{%- endif %}

# Logging: one console handler, on the root logger. Django's and daphne's loggers stay
# enabled, so "Exception inside application" tracebacks and refused websocket handshakes
# reach it; the "django" logger loses the handlers Django gives it by default, with which
# each of its records (runserver's request lines among them) printed twice. Errors are
# logged there too, not mailed (ADMINS is not set). Filters (core/logs.py): a request for a
# Host this site does not serve is one WARNING line, not an ERROR with a traceback;
# django.request keeps 5xx only (a 4xx is in the server's access line already); uvicorn's
# lines name a proxied client by its address alone.
LOG_LEVEL = env.str("DJANGO_LOG_LEVEL", default="INFO")
LOGS = "{{ cookiecutter.project_slug }}.core.logs"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "as_warning": {"()": f"{LOGS}.AsWarningWithoutTraceback"},
        "server_errors_only": {"()": f"{LOGS}.ServerErrorsOnly"},
        "client_address": {"()": f"{LOGS}.ClientAddress"},
    },
    "formatters": {
        "plain": {"format": "{asctime} {levelname} {name}: {message}", "style": "{"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "loggers": {
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.security.DisallowedHost": {"filters": ["as_warning"]},
        "django.request": {"filters": ["server_errors_only"]},
        # The production server's own records, in the same format (config/serve.py leaves
        # uvicorn's logging to these settings).
        "uvicorn.error": {"filters": ["client_address"]},
        "uvicorn.access": {"filters": ["client_address"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}

# Email: local.py prints it, production.py sends it through EMAIL_URL (when set).
PASSWORD_RESET_BY_EMAIL = True
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="webmaster@localhost")
