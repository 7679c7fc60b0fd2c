"""ASGI entry point: daphne through `runserver` in development, the Makefile's `serve` command
in production (both serve `config.asgi:application`).

HTTP goes to Django. Websockets pass the Origin check against ALLOWED_HOSTS,
{%- if cookiecutter.use_auth %}
then sessions and authentication (scope["user"]),
{%- endif %}
then the URL router, whose last route refuses unknown paths with 403.
"""

import os
import warnings

{% if cookiecutter.use_auth -%}
from channels.auth import AuthMiddlewareStack
{% endif -%}
from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application

from config.startup import load_settings_or_exit

# Fail safe: without an explicit choice, run with production settings, which refuse
# to start without a real secret key.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.production")

# WhiteNoise serves static files through synchronous iterators, which Django's ASGI handler
# reads in a worker thread (the project's static files are small) and warns about once per
# process: an expected cost, not a fault, so that one warning is silenced.
warnings.filterwarnings(
    "ignore",
    message="StreamingHttpResponse must consume synchronous iterators",
    module="django.core.handlers.asgi",
)

# Settings first (a refusal is a message, not a traceback), then Django, then the
# consumers, which may import models.
load_settings_or_exit()
django_asgi_app = get_asgi_application()

from {{ cookiecutter.project_slug }}.core.websocket import AllowedHostsOriginValidator  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
{%- if cookiecutter.use_auth %}
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
{%- else %}
        "websocket": AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns)),
{%- endif %}
    }
)
