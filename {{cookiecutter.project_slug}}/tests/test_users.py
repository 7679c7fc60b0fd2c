"""The project's own user model: in place from the first migration, used everywhere."""

from io import StringIO

import pytest
from django.contrib import admin
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Model

from {{ cookiecutter.project_slug }}.users.adoption import INITIAL, LEGACY_TABLE, needs_adoption
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


def as_before_the_users_app() -> None:
    """This database as a 0.1.0 project's holds its users: Django's `auth_user` tables,
    the user content type under `auth`, no `users.0001_initial` recorded. (The template's
    update test runs the real thing: a 0.1.0 project's own database, updated.)
    """
    with connection.schema_editor() as editor:
        editor.alter_db_table(User, User._meta.db_table, LEGACY_TABLE)
        for field in User._meta.local_many_to_many:
            through: type[Model] = field.remote_field.through  # type: ignore[assignment]
            editor.alter_db_table(through, through._meta.db_table, f"{LEGACY_TABLE}_{field.name}")
    MigrationRecorder(connection).record_unapplied(*INITIAL)
    ContentType.objects.filter(app_label="users", model="user").update(app_label="auth")
    ContentType.objects.clear_cache()


@pytest.mark.django_db(transaction=True)
def test_migrate_adopts_the_users_of_a_database_made_before_the_users_app():
    alice = User.objects.create_user("alice", password="alice's password")
    editors = Group.objects.create(name="editors")
    editors.permissions.add(Permission.objects.get(codename="change_user"))
    alice.groups.add(editors)
    as_before_the_users_app()
    assert needs_adoption(connection)
    output = StringIO()

    with pytest.raises(CommandError, match="once to adopt its auth_user table"):
        call_command("migrate", "--check", stdout=StringIO())  # changes nothing
    assert needs_adoption(connection)
    call_command("migrate", stdout=output)

    assert "Adopted the auth_user table" in output.getvalue()
    assert not needs_adoption(connection)
    assert LEGACY_TABLE not in connection.introspection.table_names()
    assert authenticate(username="alice", password="alice's password") == alice
    assert User.objects.get(pk=alice.pk).has_perm("users.change_user")
    assert ContentType.objects.filter(app_label="auth", model="user").count() == 0


def test_migrate_leaves_a_database_of_this_release_alone():
    assert not needs_adoption(connection)
