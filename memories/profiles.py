"""Writes to a memory profile by its human or staff: the on/off switch and the summary.

(Kept apart from `memories.services` only because that module was being written at the same
time; it belongs there, beside `profile_for`.)
"""

from __future__ import annotations

from memories.models import MemoryProfile


def profile_update(
    *, profile: MemoryProfile, enabled: bool | None = None, summary: str | None = None
) -> MemoryProfile:
    """Switch learning and recall on or off, or rewrite the summary; None leaves a field as is.

    Switched off, the cat neither learns nor recalls (`MemoryProfile.enabled`); the memories
    themselves are kept.
    """
    fields: list[str] = []
    if enabled is not None and enabled != profile.enabled:
        profile.enabled = enabled
        fields.append("enabled")
    if summary is not None and summary.strip() != profile.summary:
        profile.summary = summary.strip()
        fields.append("summary")
    if fields:
        profile.save(update_fields=[*fields, "updated_at"])
    return profile
