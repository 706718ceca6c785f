"""Indexes for what learning looks up after each message (memories.learning._existing): the same
fact already known (by `memories.models.text_key`) and the memory filling a slot, among the
profile's active memories. Before them, every message read all of the profile's active
memories, vectors included (1 s at 10,000 memories).

Also drops the foreign key's own index on `profile_id`: the (profile, status) index serves every
lookup by profile, and with both the planner sometimes took the one that also reads the
profile's superseded and rejected rows.

Built CONCURRENTLY (so not in a transaction): writes to a big table go on meanwhile. Plain SQL
functions only (normalize, lower, translate, regexp_replace, md5; PostgreSQL 13 or later), no
extension.
"""

import django.db.models.deletion
import django.db.models.functions.text
from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("memories", "0002_profiles_for_existing_cats"),
    ]

    operations = [
        # The state's change only: Django's AlterField would drop and re-add the foreign key
        # constraint, checking every row again.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="memory",
                    name="profile",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="memories",
                        to="memories.memoryprofile",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX CONCURRENTLY IF EXISTS "memories_memory_profile_id_e598993a"',
                    reverse_sql="CREATE INDEX CONCURRENTLY IF NOT EXISTS"
                    ' "memories_memory_profile_id_e598993a" ON "memories_memory" ("profile_id")',
                ),
            ],
        ),
        AddIndexConcurrently(
            model_name="memory",
            index=models.Index(
                models.F("profile"),
                django.db.models.functions.text.MD5(
                    models.Func(
                        models.Func(
                            django.db.models.functions.text.Replace(
                                django.db.models.functions.text.Lower(
                                    models.Func(
                                        models.F("text"),
                                        template="normalize(%(expressions)s, NFKC)",
                                    )
                                ),
                                models.Value("ß"),
                                models.Value("ss"),
                            ),
                            models.Value("ς"),
                            models.Value("σ"),
                            function="translate",
                        ),
                        models.Value("[^[:alnum:]]+"),
                        models.Value(""),
                        models.Value("g"),
                        function="regexp_replace",
                    )
                ),
                condition=models.Q(("status", "active")),
                name="memories_memory_text_key",
            ),
        ),
        AddIndexConcurrently(
            model_name="memory",
            index=models.Index(
                condition=models.Q(("status", "active"), models.Q(("slot", ""), _negated=True)),
                fields=["profile", "slot"],
                name="memories_memory_slot",
            ),
        ),
    ]
