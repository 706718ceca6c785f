"""`manage.py reembed_memories [--all] [--batch-size 64]`: give every memory and every episode a
vector of the current embedder (after a change of MEMORY_EMBEDDER or of the Mistral model, and
for the messages written before episodes existed).

Recall compares only vectors of the current model, so until this has run, what was embedded by
the previous one is found by full text and pinning only. Both are embedded as passages (texts
to be found): a memory its text, an episode the message between the cat's lines, as learning
embeds it (`memories.episodes`). Safe to
interrupt and run again: each batch is saved as it goes, and only what still needs it is redone.
"""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction

from catchat import embeddings
from catchat.llm import LLMError
from memories.episodes import passage
from memories.models import Episode, Memory


class Command(BaseCommand):
    help = (
        "Re-embed memories and episodes whose vector is not of the current embedder "
        "(all with --all)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--all", action="store_true", dest="everything", help="re-embed everything"
        )
        parser.add_argument("--batch-size", type=int, default=64, help="texts per embedding call")

    def handle(self, *args: Any, everything: bool, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        model = embeddings.model_name()
        # Every status: a superseded or rejected memory may be restored, and must then be found.
        self._reembed(Memory, "memories", _fact_text, model, everything, batch_size)
        self._reembed(Episode, "episodes", _episode_text, model, everything, batch_size)

    def _reembed(
        self,
        table: type[models.Model],
        noun: str,
        passage_of: Callable[[Any], str],
        model: str,
        everything: bool,
        batch_size: int,
    ) -> None:
        todo = table._default_manager.all()
        if not everything:
            todo = todo.exclude(embedding_model=model, embedding__isnull=False)
        ids = list(todo.order_by("pk").values_list("pk", flat=True))
        total = len(ids)
        if not total:
            self.stdout.write(f"Every one of the {noun} already has a vector of {model}.")
            return
        self.stdout.write(f"Re-embedding {total} {noun} with {model}, {batch_size} at a time.")
        done = 0
        for start in range(0, total, batch_size):
            batch = list(
                table._default_manager.filter(pk__in=ids[start : start + batch_size])
                .select_related(*(["profile__cat"] if table is Episode else []))
                .defer("embedding")
                .order_by("pk")
            )
            texts = [row.text for row in batch]  # type: ignore[attr-defined]
            try:
                vectors = embeddings.embed_passages_sync([passage_of(row) for row in batch])
            except LLMError as exc:
                raise CommandError(
                    f"The embedder failed after {done} of {total} {noun} ({exc.code}: {exc}). "
                    "Run the command again to go on."
                ) from exc
            with transaction.atomic():
                for row, text, vector in zip(batch, texts, vectors, strict=True):
                    # Only if the text is still the one embedded: an edit made meanwhile has
                    # already stored its own vector.
                    table._default_manager.filter(pk=row.pk, text=text).update(
                        embedding=vector, embedding_model=model
                    )
            done += len(batch)
            self.stdout.write(f"  {done}/{total}")
        self.stdout.write(self.style.SUCCESS(f"Done: {total} {noun} re-embedded with {model}."))


def _fact_text(memory: Memory) -> str:
    return memory.text


def _episode_text(episode: Episode) -> str:
    # As learning embeds it (memories.episodes): the message between the cat's lines.
    return passage(episode.profile.cat.name, episode.text, episode.before, episode.after)
