"""The cats REST API (`/api/v1/`, see cats/api_urls.py). Thin: parse, call one selector or
service, serialize. Authentication and the error shape come from settings.REST_FRAMEWORK;
someone else's cat is a 404 (`access_cat`), never a 403.
"""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from cats.selectors import access_cat
from cats.serializers import CareActionSerializer, CareResultSerializer, CatStateSerializer
from cats.services import cat_act, cat_state


def _user(request: Request) -> User:
    # IsAuthenticated (the default permission) has run: a real User, not AnonymousUser.
    assert isinstance(request.user, User)  # noqa: S101
    return request.user


class CatStateView(APIView):
    """`GET cats/{id}/state/`: the cat's vitals and mood right now."""

    def get(self, request: Request, cat_id: int) -> Response:
        cat = access_cat(_user(request), cat_id)
        return Response(CatStateSerializer(cat_state(cat)).data)


class CatActionsView(APIView):
    """`POST cats/{id}/actions/` with `{"action": "feed"}` (feed, play, pet or sleep).

    200 whether the cat accepted or refused: a refusal is an outcome, not an error. The owner's
    open tabs get the new `cat.state` too (the service pushes it).
    """

    def post(self, request: Request, cat_id: int) -> Response:
        user = _user(request)
        # Authorize before validating: a stranger's cat is a 404 whatever the body says.
        cat = access_cat(user, cat_id)
        incoming = CareActionSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        result = cat_act(cat=cat, actor=user, action=incoming.validated_data["action"])
        return Response(CareResultSerializer(result).data)
