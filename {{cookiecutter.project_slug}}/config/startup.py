"""The first thing each process of the project does: load the settings.

Settings that refuse to start (production without its variables) say why in plain lines,
one problem each, and the process exits 1: no traceback from deep inside Django for a
missing variable. manage.py, config/asgi.py and config/serve.py call it first.
"""

import sys

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def load_settings_or_exit() -> None:
    try:
        settings.INSTALLED_APPS  # noqa: B018  (reading a setting loads the module)
    except ImproperlyConfigured as refusal:
        sys.exit(str(refusal))
