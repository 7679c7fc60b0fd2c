"""Django's account pages under /accounts/: log in and out, change a password, and reset a
forgotten one by email, the last only where the project can send mail
(settings.PASSWORD_RESET_BY_EMAIL: production without EMAIL_URL cannot).
"""

from django.conf import settings
from django.contrib.auth import urls

urlpatterns = [
    pattern
    for pattern in urls.urlpatterns
    if settings.PASSWORD_RESET_BY_EMAIL
    or not str(getattr(pattern, "name", "")).startswith("password_reset")
]
