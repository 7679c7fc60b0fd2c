"""The database's schema as JSON, free of names Django makes up (constraints, indexes,
column order): tables, their columns' types and nullability, primary keys, uniques,
indexes and foreign keys by the columns they hold; and the migrations recorded as applied.
Two databases that print the same are the same to Django.
"""

import json

import _django  # noqa: F401
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

schema = {}
with connection.cursor() as cursor:
    introspection = connection.introspection
    for table in sorted(introspection.table_names(cursor)):
        columns = {}
        for column in introspection.get_table_description(cursor, table):
            kind = introspection.get_field_type(column.type_code, column)
            auto = getattr(column, "is_autofield", False)
            columns[column.name] = [kind, bool(column.null_ok), bool(auto)]
        constraints = sorted(
            json.dumps(
                [
                    info["columns"],
                    info["primary_key"],
                    info["unique"],
                    info["foreign_key"],
                    info["index"] and not info["unique"],
                ]
            )
            for info in introspection.get_constraints(cursor, table).values()
        )
        schema[table] = {"columns": columns, "constraints": constraints}
recorded = MigrationRecorder(connection).applied_migrations()
applied = sorted(f"{app}.{name}" for app, name in recorded)
print(json.dumps({"tables": schema, "applied": applied}))
