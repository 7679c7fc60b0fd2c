"""What the team's users look like now (after use_project.py and an update), as JSON:
who logs in, what they may do, what the admin's log says, whose the old session is.
"""

import json
import sys

import _django  # noqa: F401
from django.contrib.admin.models import LogEntry
from django.contrib.auth import authenticate, get_user, get_user_model
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest

session_key = sys.argv[1]
User = get_user_model()
alice = authenticate(username="alice", password="alice-password-1")
admin = authenticate(username="admin", password="admin-password-1")
request = HttpRequest()
request.session = SessionStore(session_key)
newcomer = User.objects.create_user("newcomer", password="newcomer-password-1")
print(
    json.dumps(
        {
            "user_model": User._meta.label,
            "alice": alice and alice.pk,
            "admin": admin and admin.pk,
            "admin_is_superuser": bool(admin and admin.is_superuser),
            "alice_groups": sorted(group.name for group in alice.groups.all()) if alice else [],
            "alice_perms": sorted(alice.get_all_permissions()) if alice else [],
            "log": [
                [entry.user.username, entry.content_type.app_label, str(entry.get_edited_object())]
                for entry in LogEntry.objects.all()
            ],
            "session_user": get_user(request).pk,
            "user_content_types": sorted(
                ContentType.objects.filter(model="user").values_list("app_label", flat=True)
            ),
            "newcomer": newcomer.pk,
            "users": User.objects.count(),
        }
    )
)
