"""The database itself refuses to change or delete a signed note, and any addendum (not only the code)."""

from django.db import migrations

SECTIONS = ["subjective", "objective", "data", "assessment", "plan"]
# table -> the columns a signature covers (a signed row may still move updated_at and the reminder mark).
LOCKED_WHEN_SIGNED = {
    "therapy_progressnote": [
        "patient_id", "episode_id", "session_id", "group_note_id", "format", *SECTIONS, "participation",
        "author_id", "signed_at", "content_hash",
    ],
    "therapy_groupnote": ["group_session_id", "format", "summary", "author_id", "signed_at", "content_hash"],
}  # fmt: skip
APPEND_ONLY = ["therapy_noteaddendum"]

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION therapy_refuse_signed_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'signed notes and addenda are locked: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def _changed(columns: list[str], differs: str) -> str:
    return " OR ".join(f"OLD.{column} {differs} NEW.{column}" for column in columns)


def forwards(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # no parameters: the % in the function body stays literal
            cursor.execute(POSTGRES_FUNCTION)
        run = "FOR EACH ROW WHEN ({}) EXECUTE FUNCTION therapy_refuse_signed_change();"
        for table, columns in LOCKED_WHEN_SIGNED.items():
            changed = _changed(columns, "IS DISTINCT FROM")
            schema_editor.execute(
                f"CREATE TRIGGER {table}_signed_update BEFORE UPDATE ON {table} "
                + run.format(f"OLD.signed_at IS NOT NULL AND ({changed})")
            )
            schema_editor.execute(
                f"CREATE TRIGGER {table}_signed_delete BEFORE DELETE ON {table} "
                + run.format("OLD.signed_at IS NOT NULL")
            )
        for table in APPEND_ONLY:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION therapy_refuse_signed_change();"
            )
    elif connection.vendor == "sqlite":
        abort = "BEGIN SELECT RAISE(ABORT, 'signed notes and addenda are locked'); END;"
        for table, columns in LOCKED_WHEN_SIGNED.items():
            changed = _changed(columns, "IS NOT")
            schema_editor.execute(
                f"CREATE TRIGGER {table}_signed_update BEFORE UPDATE ON {table} FOR EACH ROW "
                f"WHEN OLD.signed_at IS NOT NULL AND ({changed}) {abort}"
            )
            schema_editor.execute(
                f"CREATE TRIGGER {table}_signed_delete BEFORE DELETE ON {table} FOR EACH ROW "
                f"WHEN OLD.signed_at IS NOT NULL {abort}"
            )
        for table in APPEND_ONLY:
            for operation in ("UPDATE", "DELETE"):
                schema_editor.execute(
                    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} {abort}"
                )


def backwards(apps, schema_editor):
    connection = schema_editor.connection
    names = [(table, f"{table}_signed_{op}") for table in LOCKED_WHEN_SIGNED for op in ("update", "delete")]
    if connection.vendor == "postgresql":
        names += [(table, f"{table}_append_only") for table in APPEND_ONLY]
        for table, name in names:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table};")
    elif connection.vendor == "sqlite":
        names += [(table, f"{table}_no_{op}") for table in APPEND_ONLY for op in ("update", "delete")]
        for _, name in names:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {name};")


class Migration(migrations.Migration):
    dependencies = [("therapy", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
