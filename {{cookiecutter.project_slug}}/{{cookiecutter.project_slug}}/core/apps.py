from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}.core"
    label = "core"
{%- if cookiecutter.use_auth %}

    def ready(self) -> None:
        # Signal receivers: a websocket closes when the session it was opened with ends.
        from . import sessions  # noqa: F401
{%- endif %}
