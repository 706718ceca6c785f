"""The landing page at `/`: what CatChat is, for visitors; a logged-in user goes to their cats.

Wiring-level (it imports no app): the cats list is reached by its URL name.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render


def landing(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("cats:list")
    return render(request, "landing.html")
