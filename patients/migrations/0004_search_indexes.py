"""Indexes for patient search (`?search=`, `?mrn=`).

- `patient_mrn_upper`: UPPER(mrn), for the case-insensitive MRN match; an ordinary index, declared in
  Patient.Meta.indexes and created on every database.
- Trigram GIN indexes on UPPER(first_name), UPPER(last_name) and phone, for the "contains" matches of `search`
  (Django's icontains is `UPPER(col) LIKE UPPER('%word%')` on PostgreSQL, which only an index on the same
  expression serves). They need PostgreSQL's pg_trgm, so they are created here only when the database is
  PostgreSQL, and are deliberately not declared in Meta.indexes: a GinIndex there would be created on SQLite
  too (`make run`) and fail. `makemigrations` does not see them, so it stays clean.
"""

from django.db import migrations, models
from django.db.models.functions import Upper

TRIGRAM_INDEXES = {
    "patient_first_name_trgm": "upper(first_name::text) gin_trgm_ops",
    "patient_last_name_trgm": "upper(last_name::text) gin_trgm_ops",
    "patient_phone_trgm": "phone gin_trgm_ops",
}


def create_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, expression in TRIGRAM_INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON patients_patient USING gin ({expression})")


def drop_trigram_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in TRIGRAM_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0003_validation_and_protect"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="patient",
            index=models.Index(Upper("mrn"), name="patient_mrn_upper"),
        ),
        migrations.RunPython(create_trigram_indexes, drop_trigram_indexes, elidable=False),
    ]
