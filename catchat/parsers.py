"""The REST API's request parser (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES).

Its own module: DRF reads that setting while `rest_framework.views` is imported, which
catchat.rest imports.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, but a body nested too deeply for Python's recursion limit
    (`[` x 100,000) is a 400 like any malformed JSON, not a RecursionError and a 500."""

    def parse(
        self,
        stream: IO[Any],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None
