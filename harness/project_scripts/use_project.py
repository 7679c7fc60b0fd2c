"""A project used for a while: users (one an admin), a group with a permission, a direct
permission, an admin log entry, a logged-in session. Prints what it made, as JSON.

Written against Django's API only, so that it runs on a project of any release: the
user model is whatever `get_user_model()` is.
"""

import json

import _django  # noqa: F401
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth import get_user_model, login
from django.contrib.auth.models import Group, Permission
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest

User = get_user_model()
alice = User.objects.create_user("alice", "alice@example.com", "alice-password-1")
admin = User.objects.create_superuser("admin", "admin@example.com", "admin-password-1")
editors = Group.objects.create(name="editors")
editors.permissions.add(Permission.objects.get(codename="change_user"))
alice.groups.add(editors)
alice.user_permissions.add(Permission.objects.get(codename="view_user"))
LogEntry.objects.log_actions(admin.pk, [alice], ADDITION, change_message="[]")

request = HttpRequest()
request.session = SessionStore()
request.META["REMOTE_ADDR"] = "127.0.0.1"
login(request, alice, backend="django.contrib.auth.backends.ModelBackend")
request.session.save()

print(
    json.dumps(
        {
            "alice": alice.pk,
            "admin": admin.pk,
            "user_model": User._meta.label,
            "session": request.session.session_key,
        }
    )
)
