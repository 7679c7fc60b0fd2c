"""System checks of the project's own configuration, shown by runserver, migrate and
`manage.py check` (once per command, unlike a warning raised while settings load, which
runserver's autoreloader would print twice).
"""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Info, register

from config.settings.base import IN_MEMORY_CHANNEL_LAYER


@register()
def channel_layer_reaches_other_processes(**kwargs: Any) -> list[CheckMessage]:
    """Local settings fall back to the in-memory layer when REDIS_URL is unset: say so."""
    if settings.CHANNEL_LAYERS["default"] != IN_MEMORY_CHANNEL_LAYER:
        return []
    return [
        Info(
            "The in-memory channel layer is in use: it only reaches consumers of this one process.",
            hint="Set REDIS_URL (see .env.example) to use Redis, as production does.",
            id="core.I001",
        )
    ]
