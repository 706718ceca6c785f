"""What a cat knows about its human. The models arrive with the memory issue."""

from __future__ import annotations
