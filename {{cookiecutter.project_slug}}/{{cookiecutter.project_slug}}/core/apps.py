from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}.core"
    label = "core"
{%- if cookiecutter.use_redis or cookiecutter.use_auth %}

    def ready(self) -> None:
{%- endif %}
{%- if cookiecutter.use_auth %}
        # Signal receivers: a websocket closes when the session it was opened with ends.
        from . import sessions  # noqa: F401
{%- endif %}
{%- if cookiecutter.use_redis %}

        # Registers the system check that points out local settings without REDIS_URL.
        from .checks import channel_layer_reaches_other_processes  # noqa: F401
{%- endif %}
