"""`manage.py reembed_memories [--all] [--batch-size 64]`: give every memory a vector of the
current embedder (after a change of MEMORY_EMBEDDER or of the Mistral model).

Recall compares only vectors of the current model, so until this has run, memories embedded by
the previous one are found by full text and pinning only. Safe to interrupt and run again: each
batch is saved as it goes, and only what still needs it is redone.
"""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from catchat import embeddings
from catchat.llm import LLMError
from memories.models import Memory
from memories.topics import passage_text


class Command(BaseCommand):
    help = "Re-embed memories whose vector is not of the current embedder (all with --all)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument(
            "--all", action="store_true", dest="everything", help="re-embed every memory"
        )
        parser.add_argument("--batch-size", type=int, default=64, help="texts per embedding call")

    def handle(self, *args: Any, everything: bool, batch_size: int, **options: Any) -> None:
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        model = embeddings.model_name()
        # Every status: a superseded or rejected memory may be restored, and must then be found.
        todo = Memory.objects.all()
        if not everything:
            todo = todo.exclude(embedding_model=model, embedding__isnull=False)
        ids = list(todo.order_by("pk").values_list("pk", flat=True))
        total = len(ids)
        if not total:
            self.stdout.write(f"Every memory already has a vector of {model}.")
            return
        self.stdout.write(f"Re-embedding {total} memories with {model}, {batch_size} at a time.")
        done = 0
        for start in range(0, total, batch_size):
            batch = list(
                Memory.objects.filter(pk__in=ids[start : start + batch_size])
                .only("pk", "text")
                .order_by("pk")
            )
            try:
                vectors = embeddings.embed_passages_sync([passage_text(m.text) for m in batch])
            except LLMError as exc:
                raise CommandError(
                    f"The embedder failed after {done} of {total} memories ({exc.code}: {exc}). "
                    "Run the command again to go on."
                ) from exc
            with transaction.atomic():
                for memory, vector in zip(batch, vectors, strict=True):
                    # Only if the text is still the one embedded: an edit made meanwhile has
                    # already stored its own vector.
                    Memory.objects.filter(pk=memory.pk, text=memory.text).update(
                        embedding=vector, embedding_model=model
                    )
            done += len(batch)
            self.stdout.write(f"  {done}/{total}")
        self.stdout.write(self.style.SUCCESS(f"Done: {total} memories re-embedded with {model}."))
