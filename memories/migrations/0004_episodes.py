"""Episodes: every message the human writes, recallable as it is, with the cat's lines around it;
and the turn's query vector kept with its extraction job. The messages written before this
migration become episodes too (for switched-on profiles), without vectors: full text finds them
until `manage.py reembed_memories` embeds them."""

import django.contrib.postgres.search
import django.db.models.deletion
import pgvector.django.vector
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('cats', '0005_message_episodes_used'),
        ('memories', '0003_learning_lookup_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='extractionjob',
            name='query_model',
            field=models.CharField(blank=True, max_length=80),
        ),
        migrations.AddField(
            model_name='extractionjob',
            name='query_vector',
            field=pgvector.django.vector.VectorField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name='Episode',
            fields=[
                ('message', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='episode', serialize=False, to='cats.message')),
                ('conversation_id', models.BigIntegerField(help_text="The message's conversation (a link).")),
                ('text', models.TextField()),
                ('before', models.TextField(blank=True, help_text="The cat's line just before, if any.")),
                ('after', models.TextField(blank=True, help_text="The cat's answer, if any.")),
                ('said_at', models.DateTimeField()),
                ('embedding', pgvector.django.vector.VectorField(blank=True, null=True)),
                ('embedding_model', models.CharField(blank=True, max_length=80)),
                ('search', models.GeneratedField(db_persist=True, expression=django.contrib.postgres.search.SearchVector('before', 'text', 'after', config='simple'), output_field=django.contrib.postgres.search.SearchVectorField())),
                ('profile', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='episodes', to='memories.memoryprofile')),
            ],
            options={
                'ordering': ['said_at', 'message_id'],
                'indexes': [models.Index(fields=['profile', 'said_at'], name='memories_ep_profile_44ab8c_idx')],
            },
        ),
        migrations.RunSQL(
            """
            INSERT INTO memories_episode (message_id, profile_id, conversation_id, text, before,
                after, said_at, embedding_model)
            SELECT m.id, p.id, m.conversation_id, m.text,
                CASE WHEN m.before_role = 'cat' THEN m.before_text ELSE '' END,
                CASE WHEN m.after_role = 'cat' THEN m.after_text ELSE '' END,
                m.created_at, ''
            FROM (
                SELECT id, conversation_id, role, text, created_at,
                    lag(role) OVER w AS before_role, lag(text) OVER w AS before_text,
                    lead(role) OVER w AS after_role, lead(text) OVER w AS after_text
                FROM cats_message WHERE kept
                WINDOW w AS (PARTITION BY conversation_id ORDER BY created_at, id)
            ) m
            JOIN cats_conversation c ON c.id = m.conversation_id
            JOIN memories_memoryprofile p ON p.cat_id = c.cat_id
            WHERE m.role = 'user' AND p.enabled AND m.text <> ''
            ON CONFLICT DO NOTHING
            """,
            migrations.RunSQL.noop,
        ),
    ]
