"""The adoption form. Validation only: creating the cat is `cats.services.cat_create`."""

from __future__ import annotations

from django import forms

# Offered as suggestions (a <datalist>); the coat stays free text (PRODUCT.md, "Shapes").
COMMON_COATS = (
    "black",
    "white",
    "grey",
    "ginger",
    "cream",
    "brown tabby",
    "grey tabby",
    "orange tabby",
    "tortoiseshell",
    "calico",
    "tuxedo",
    "siamese (colourpoint)",
    "blue",
    "lilac",
)
COAT_DATALIST_ID = "coat-colours"


class AdoptForm(forms.Form):
    name = forms.CharField(
        max_length=40,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "Whiskers"}),
    )
    personality = forms.CharField(
        max_length=300,
        required=False,
        strip=True,
        help_text="A few words on character: shy, curious, a little dramatic.",
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "curious, cuddly, a bit dramatic"}),
    )
    coat = forms.CharField(
        max_length=40,
        required=False,
        strip=True,
        widget=forms.TextInput(attrs={"list": COAT_DATALIST_ID, "autocomplete": "off"}),
    )

    coat_choices = COMMON_COATS
    coat_datalist_id = COAT_DATALIST_ID


class CatEditForm(AdoptForm):
    """Editing a cat: the adoption form's fields and rules, the cat's values to start from.
    Saving is `cats.services.cat_update`."""


class ConversationRenameForm(forms.Form):
    """A conversation's new title (1 to 120 characters, as `PATCH conversations/{id}/`)."""

    title = forms.CharField(max_length=120, strip=True)
