"""A database made before `users.User` existed keeps its users.

Projects baked from template 0.1.0 used Django's own `auth.User`: their databases hold
`auth_user` and a migration history in which `admin.0001_initial` is applied without
`users.0001_initial`, which Django refuses (`InconsistentMigrationHistory`) before it
migrates anything. `adopt_auth_user()` makes such a database the one `users.0001_initial`
makes, keeping every row:

- `auth_user` and its two many-to-many tables become `users_user`, `users_user_groups`
  and `users_user_user_permissions`, and their integer keys the 64-bit keys of
  `DEFAULT_AUTO_FIELD`, with every foreign key to a user (the admin's log, the team's
  own tables);
- the user content type moves from `auth` to `users`, so permissions granted on users
  and the admin's log entries about users stay attached;
- `users.0001_initial` is recorded as applied.

Sessions and password hashes are untouched: users log in as before, and a browser logged
in before the update stays logged in. All of it is one transaction. The project's
`migrate` command (management/commands/migrate.py) runs it first; on any other database
it changes nothing. Left as they were: the names of indexes, constraints and the key's
sequence, which Django looks up rather than assumes.
"""

from django.apps.registry import Apps
from django.conf import settings
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import ForeignObjectRel

INITIAL = ("users", "0001_initial")
LEGACY_TABLE = "auth_user"


def needs_adoption(connection: BaseDatabaseWrapper) -> bool:
    """Whether `connection` holds a pre-`users.User` project's users."""
    if settings.AUTH_USER_MODEL.lower() != "users.user":
        return False
    recorder = MigrationRecorder(connection)
    if not recorder.has_table() or INITIAL in recorder.applied_migrations():
        return False
    tables = connection.introspection.table_names()
    return LEGACY_TABLE in tables and "users_user" not in tables


def adopt_auth_user(connection: BaseDatabaseWrapper) -> bool:
    """Adopt `auth_user` as `users.User`'s table; False when there is nothing to adopt."""
    if not needs_adoption(connection):
        return False
    loader = MigrationLoader(connection)
    applied = [key for key in loader.applied_migrations or {} if key in loader.graph.nodes]
    apps = loader.project_state([*applied, INITIAL], at_end=True).apps
    user = apps.get_model("users", "User")
    throughs = [field.remote_field.through for field in user._meta.local_many_to_many]
    with connection.schema_editor(atomic=True) as editor:
        editor.alter_db_table(user, LEGACY_TABLE, user._meta.db_table)
        for field, through in zip(user._meta.local_many_to_many, throughs, strict=True):
            legacy = f"{LEGACY_TABLE}_{field.name}"
            editor.alter_db_table(through, legacy, through._meta.db_table)
        # Keys: the user's first, which takes the columns that refer to it along.
        for model in [user, *throughs]:
            legacy_key = integer_key(model)
            if legacy_key.get_internal_type() != model._meta.pk.get_internal_type():
                editor.alter_field(model, legacy_key, model._meta.pk)
        if connection.vendor == "sqlite":
            # SQLite's keys are "integer" whatever their size, so alter_field leaves the
            # columns that refer to a user declared "integer" where Django now declares
            # "bigint": their tables are made again as the migrations declare them.
            for model in referring_models(user):
                editor._remake_table(model)  # type: ignore[attr-defined]  # Django's own way
        move_content_type(apps, connection.alias)
        MigrationRecorder(connection).record_applied(*INITIAL)
    return True


def integer_key(model: type[models.Model]) -> models.AutoField:
    """The `id` field Django's auth app gave its tables."""
    field: models.AutoField = models.AutoField(primary_key=True, auto_created=True, serialize=False)
    field.set_attributes_from_name("id")
    field.model = model
    return field


def referring_models(model: type[models.Model]) -> set[type[models.Model]]:
    """Models with a foreign key to `model`, many-to-many tables included."""
    return {
        relation.related_model
        for relation in model._meta.get_fields(include_hidden=True)
        if isinstance(relation, ForeignObjectRel)
        and not relation.many_to_many
        and isinstance(relation.related_model, type)
    }


def move_content_type(apps: Apps, alias: str) -> None:
    content_types = apps.get_model("contenttypes", "ContentType").objects.using(alias)
    if not content_types.filter(app_label="users", model="user").exists():
        content_types.filter(app_label="auth", model="user").update(app_label="users")
