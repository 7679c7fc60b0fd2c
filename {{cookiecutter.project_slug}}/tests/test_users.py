"""The project's own user model: in place from the first migration, used everywhere."""

from io import StringIO

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command

from {{ cookiecutter.project_slug }}.users.models import User

pytestmark = pytest.mark.django_db


def test_the_user_model_is_the_projects_own():
    assert get_user_model() is User
    assert User._meta.db_table == "users_user"


def test_createsuperuser_creates_the_projects_user(monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "correct horse battery")

    call_command(
        "createsuperuser", "--noinput", username="root", email="root@example.com", stdout=StringIO()
    )

    user = User.objects.get(username="root")
    assert user.is_superuser
    assert user.check_password("correct horse battery")


def test_users_are_managed_in_the_admin(admin_client):
    assert admin.site.is_registered(User)

    changelist = admin_client.get("/admin/users/user/")

    assert changelist.status_code == 200
    assert "admin" in changelist.content.decode()
