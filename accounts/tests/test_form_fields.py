"""The shared form template ties every field to its help text and errors for screen readers."""

from __future__ import annotations

import re

import pytest
from django.test import Client


@pytest.mark.django_db
def test_every_described_by_id_of_a_refused_form_is_on_the_page() -> None:
    page = Client().post("/accounts/signup/", {"username": "", "password1": "x"})
    html = page.content.decode()
    described = {
        ref for refs in re.findall(r'aria-describedby="([^"]+)"', html) for ref in refs.split()
    }
    ids = set(re.findall(r'\bid="([^"]+)"', html))

    assert any(ref.endswith("_error") for ref in described)  # an error is described
    assert described and described <= ids, described - ids
