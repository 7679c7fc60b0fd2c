"""Websocket routes of every app, and a last route that refuses unknown paths."""

from django.urls import re_path

{% if cookiecutter.include_sample_consumer -%}
from {{ cookiecutter.project_slug }}.chat import routing as chat_routing
{% endif -%}
from {{ cookiecutter.project_slug }}.core.websocket import RefuseUnknownPathConsumer

websocket_urlpatterns = [
{%- if cookiecutter.include_sample_consumer %}
    *chat_routing.websocket_urlpatterns,
{%- endif %}
    # Without a catch-all, URLRouter raises on unknown paths and daphne answers 500.
    re_path(r"", RefuseUnknownPathConsumer.as_asgi()),
]
