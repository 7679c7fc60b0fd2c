"""Django's `migrate`, which first adopts the `auth_user` table of a database made before
`users.User` existed (users/adoption.py): without that, Django refuses such a database
with `InconsistentMigrationHistory` before migrating anything.
"""

from typing import Any

from django.core.management.commands import migrate
from django.db import connections

from ...adoption import adopt_auth_user


class Command(migrate.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        # Not for --plan or --check, which promise to change nothing.
        dry = options["plan"] or options["check_unapplied"]
        if not dry and adopt_auth_user(connections[options["database"]]):
            self.stdout.write(
                "Adopted the auth_user table as users.User's: users, their groups and "
                "permissions kept (users/adoption.py)."
            )
        super().handle(*args, **options)
