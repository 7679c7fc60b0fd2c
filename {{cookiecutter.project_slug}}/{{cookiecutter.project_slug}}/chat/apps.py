from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}.chat"
    label = "chat"
