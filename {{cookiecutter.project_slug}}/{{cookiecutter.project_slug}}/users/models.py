"""The project's user model, `AUTH_USER_MODEL`, from the first migration on.

Django's own `User` with nothing added yet: fields go here (a display name, a time zone)
as the project needs them. Starting with a custom model costs nothing; switching to one
once users exist means rewriting every foreign key to them by hand. Refer to it through
`django.contrib.auth.get_user_model()` or `settings.AUTH_USER_MODEL`, never by import,
in code other apps could reuse.
"""

from django.contrib.auth.models import AbstractUser


class User(AbstractUser):
    pass
