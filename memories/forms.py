"""Forms of the "what <cat> remembers" page. Validation only: the writes are memories.services."""

from __future__ import annotations

from django import forms

from memories.models import Memory
from memories.selectors import STATUS_FILTERS


class CorrectionForm(forms.Form):
    """The corrected text of a memory."""

    text = forms.CharField(max_length=Memory._meta.get_field("text").max_length, strip=True)


class ProfileSwitchForm(forms.Form):
    """Memory on or off for this cat."""

    enabled = forms.TypedChoiceField(
        choices=[("1", "on"), ("0", "off")], coerce=lambda value: value == "1"
    )


class FilterForm(forms.Form):
    """The page's search and status filter (GET). A bad value falls back to the default rather
    than failing: these come from the address bar."""

    q = forms.CharField(max_length=200, required=False, strip=True)
    status = forms.ChoiceField(choices=[(value, value) for value in STATUS_FILTERS], required=False)

    def values(self) -> tuple[str, str]:
        """(q, status) as given, or the defaults ("", "active") where missing or invalid."""
        self.is_valid()  # an invalid field is left out of cleaned_data
        q: str = self.cleaned_data.get("q", "")
        status: str = self.cleaned_data.get("status") or Memory.Status.ACTIVE
        return q, status
