"""Django's `migrate`, which first adopts the `auth_user` table of a database made before
`users.User` existed (users/adoption.py): without that, Django refuses such a database
with `InconsistentMigrationHistory` before migrating anything.
"""

from typing import Any

from django.core.management.base import CommandError
from django.core.management.commands import migrate
from django.db import connections

from ...adoption import adopt_auth_user, needs_adoption


class Command(migrate.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        connection = connections[options["database"]]
        if options["plan"] or options["check_unapplied"]:  # promise to change nothing
            if needs_adoption(connection):
                raise CommandError(
                    "This database was made before users.User existed: run `manage.py "
                    "migrate` once to adopt its auth_user table (users/adoption.py)."
                )
        elif adopt_auth_user(connection):
            self.stdout.write(
                "Adopted the auth_user table as users.User's: users, their groups and "
                "permissions kept (users/adoption.py)."
            )
        super().handle(*args, **options)
