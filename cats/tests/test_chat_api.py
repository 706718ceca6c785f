"""`POST /api/v1/chat/` against a real daphne server: the whole reply as JSON, the same turn as
Server-Sent Events read by a real SSE client (httpx-sse), a client that leaves mid-reply, retries
with the same client_id, the model failing; and the refusals, which need no server.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from django.db import connections
from django.urls import reverse
from httpx_sse import connect_sse
from pytest_django.fixtures import Settings as SettingsWrapper
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from catchat.testing.fake_mistral import Fail, FakeMistral, Reply
from catchat.testing.live import LiveServer
from cats.models import Cat, Conversation, Message
from cats.tests.factories import CatFactory, ConversationFactory

CHAT = "/api/v1/chat/"


def bearer(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {AccessToken.for_user(user)}"}


def wait_for(check: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


# --- through a real server -----------------------------------------------------------------


@pytest.fixture
def whiskers(alice: User) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


@pytest.fixture
def offline_server(transactional_db: None, settings: SettingsWrapper) -> Iterator[LiveServer]:
    settings.OFFLINE_WORD_DELAY_MS = 30  # several deltas per reply, and time to walk away
    live = LiveServer()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def mistral_server(transactional_db: None, mistral: FakeMistral) -> Iterator[LiveServer]:
    # The fake Mistral server runs here; the forked server inherits the settings that point to it.
    live = LiveServer()
    try:
        yield live
    finally:
        live.stop()


def test_the_whole_reply_as_json(offline_server: LiveServer, alice: User, whiskers: Cat) -> None:
    response = httpx.post(
        offline_server.url + CHAT,
        json={"cat": whiskers.pk, "message": "Hello Whiskers! I love sushi."},
        headers=bearer(alice),
        timeout=30,
    )

    assert response.status_code == 200, response.text
    body = response.json()
    message, reply = body["message"], body["reply"]
    assert message["role"] == "user" and message["text"] == "Hello Whiskers! I love sushi."
    assert reply["role"] == "cat" and reply["status"] == "complete" and reply["text"].strip()
    assert reply["reply_to"] == message["id"] and reply["conversation"] == message["conversation"]
    saved = Message.objects.get(pk=reply["id"])
    assert saved.text == reply["text"] and saved.status == Message.Status.COMPLETE
    assert Conversation.objects.get(pk=message["conversation"]).cat == whiskers


def test_the_turn_as_server_sent_events(
    offline_server: LiveServer, alice: User, whiskers: Cat
) -> None:
    conversation = ConversationFactory.create(cat=whiskers)
    events = []
    with (
        httpx.Client(base_url=offline_server.url, headers=bearer(alice), timeout=30) as client,
        connect_sse(
            client,
            "POST",
            CHAT,
            json={"cat": whiskers.pk, "conversation": conversation.pk, "message": "Hi there!"},
        ) as source,
    ):
        assert source.response.status_code == 200
        assert source.response.headers["content-type"].startswith("text/event-stream")
        for event in source.iter_sse():
            events.append((event.event, json.loads(event.data)))

    names = [name for name, _ in events]
    assert names[:2] == ["accepted", "started"] and names[-1] == "done"
    assert set(names[2:-1]) == {"delta"} and len(names) >= 5  # several deltas
    accepted, started, done = events[0][1], events[1][1], events[-1][1]
    assert accepted["type"] == "chat.accepted" and accepted["message"]["text"] == "Hi there!"
    assert accepted["message"]["conversation"] == conversation.pk
    assert started["message"]["reply_to"] == accepted["message"]["id"]
    deltas = [data for name, data in events if name == "delta"]
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    assert {d["message_id"] for d in deltas} == {started["message"]["id"]}
    assert "".join(d["text"] for d in deltas) == done["message"]["text"]
    assert done["message"]["status"] == "complete"


def test_a_client_that_leaves_mid_reply_loses_nothing(
    offline_server: LiveServer, alice: User, whiskers: Cat
) -> None:
    with (
        httpx.Client(base_url=offline_server.url, headers=bearer(alice), timeout=30) as client,
        connect_sse(
            client, "POST", CHAT, json={"cat": whiskers.pk, "message": "Tell me a story."}
        ) as source,
    ):
        for event in source.iter_sse():
            if event.event == "delta":
                reply_id = json.loads(event.data)["message_id"]
                break  # and hang up, mid-reply

    def finished() -> Message | None:
        reply = Message.objects.get(pk=reply_id)
        return reply if reply.status != Message.Status.STREAMING else None

    reply = wait_for(finished)
    assert reply is not None, "the reply was never finished"
    assert reply.status == Message.Status.COMPLETE and reply.text.strip()
    assert reply.reply_to is not None and reply.reply_to.text == "Tell me a story."


def test_a_retry_with_the_same_client_id_is_the_same_turn(
    offline_server: LiveServer, alice: User, whiskers: Cat
) -> None:
    body = {"cat": whiskers.pk, "message": "Are you there?", "client_id": str(uuid.uuid4())}
    first = httpx.post(offline_server.url + CHAT, json=body, headers=bearer(alice), timeout=30)
    again = httpx.post(offline_server.url + CHAT, json=body, headers=bearer(alice), timeout=30)

    assert first.status_code == again.status_code == 200
    assert again.json()["message"]["id"] == first.json()["message"]["id"]
    assert again.json()["reply"] == first.json()["reply"]
    assert Message.objects.filter(text="Are you there?").count() == 1
    assert Message.objects.filter(role=Message.Role.CAT).count() == 1


def test_a_rate_limited_model_is_a_503_with_retry_after_and_the_message_is_kept(
    mistral_server: LiveServer, mistral: FakeMistral, alice: User, whiskers: Cat
) -> None:
    mistral.script(Fail(429, headers={"Retry-After": "7"}))  # a 429 is not retried
    body = {"cat": whiskers.pk, "message": "Are you awake?", "client_id": str(uuid.uuid4())}

    response = httpx.post(mistral_server.url + CHAT, json=body, headers=bearer(alice), timeout=30)

    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "7"
    failed = response.json()
    assert failed["code"] == "rate_limited" and "nap" in failed["detail"]
    assert failed["reply"]["status"] == "error"
    assert Message.objects.get(pk=failed["message"]["id"]).text == "Are you awake?"

    # The same client_id again, once the model is back: the turn is retried, not duplicated.
    mistral.script(Reply("Mrrp, I'm awake now."))
    retried = httpx.post(mistral_server.url + CHAT, json=body, headers=bearer(alice), timeout=30)
    assert retried.status_code == 200, retried.text
    assert retried.json()["message"]["id"] == failed["message"]["id"]
    assert retried.json()["reply"]["text"] == "Mrrp, I'm awake now."
    assert Message.objects.filter(text="Are you awake?").count() == 1


def test_the_first_designs_routes_still_answer(
    offline_server: LiveServer, alice: User, whiskers: Cat
) -> None:
    health = httpx.get(offline_server.url + "/api/", timeout=10)
    assert health.status_code == 200 and health.json()["database"] == "ok"
    state = httpx.get(offline_server.url + "/api/cat/state", headers=bearer(alice), timeout=10)
    assert state.status_code == 200 and set(state.json()) >= {"hunger", "mood"}
    chat = httpx.post(
        offline_server.url + "/api/chat", json={"message": "Hi!"}, headers=bearer(alice), timeout=30
    )
    assert chat.status_code == 200, chat.text
    assert chat.json()["reply"]["status"] == "complete"
    assert Conversation.objects.get(pk=chat.json()["message"]["conversation"]).cat == whiskers


# --- refusals: answered before any model is called ----------------------------------------


@pytest.fixture
def alice_api(alice: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"message": "hi", "cat": "one"}, "cat"),
        ({"cat": 1}, "message"),
        ({"cat": 1, "message": None}, "message"),
        ({"cat": 1, "message": ["hi"]}, "message"),
        ({"cat": 1, "message": "x" * 4001}, "message"),
        ({"cat": 1, "message": "hi", "client_id": "not-a-uuid"}, "client_id"),
        ({"cat": 1, "message": "hi", "conversation": "x"}, "conversation"),
    ],
)
def test_bad_fields_are_400_with_field_errors(
    alice_api: APIClient, body: dict[str, Any], field: str
) -> None:
    response = alice_api.post(CHAT, body, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_an_empty_message_is_a_400_and_nothing_is_saved(
    alice_api: APIClient, whiskers: Cat
) -> None:
    response = alice_api.post(CHAT, {"cat": whiskers.pk, "message": "  \n "}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"]
    assert not Message.objects.exists() and not Conversation.objects.exists()


@pytest.mark.django_db
def test_someone_elses_cat_or_conversation_is_a_404(
    alice_api: APIClient, whiskers: Cat, bob: User
) -> None:
    bobs = CatFactory.create(owner=bob)
    bobs_conversation = ConversationFactory.create(cat=bobs)
    mine = alice_api.post(CHAT, {"cat": bobs.pk, "message": "hi"}, format="json")
    assert mine.status_code == 404 and mine.json() == {"detail": "No such cat."}
    theirs = alice_api.post(
        CHAT,
        {"cat": whiskers.pk, "conversation": bobs_conversation.pk, "message": "hi"},
        format="json",
    )
    assert theirs.status_code == 404
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_no_cat_yet_is_a_404_on_the_first_designs_routes(alice_api: APIClient) -> None:
    assert alice_api.get("/api/cat/state").status_code == 404
    response = alice_api.post("/api/chat", {"message": "hi"}, format="json")
    assert response.status_code == 404 and "adopt" in response.json()["detail"]


@pytest.mark.django_db
def test_chat_needs_credentials_json_and_post(alice_api: APIClient, whiskers: Cat) -> None:
    anonymous = APIClient().post(CHAT, {"cat": whiskers.pk, "message": "hi"}, format="json")
    assert anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    form = alice_api.post(CHAT, {"cat": whiskers.pk, "message": "hi"}, format="multipart")
    assert form.status_code == 415
    assert alice_api.get(CHAT).status_code == 405
    assert not Message.objects.exists()


@pytest.mark.django_db
def test_chat_is_limited_per_user_with_retry_after(
    alice_api: APIClient, settings: Any, bob: User, alice: User, whiskers: Cat
) -> None:
    # The budget is the tab's (CHAT_MESSAGES_PER_MINUTE, cats.chat.turn): see test_turn.py.
    settings.CHAT_MESSAGES_PER_MINUTE = 0
    empty = {"cat": whiskers.pk, "message": ""}  # refused before it is counted
    assert alice_api.post(CHAT, empty, format="json").status_code == 400
    limited = alice_api.post(CHAT, {"cat": whiskers.pk, "message": "hi"}, format="json")
    assert limited.status_code == 429
    assert 0 < int(limited["Retry-After"]) <= 60
    assert "messages a minute" in limited.json()["detail"]
    # Per user: bob still has his own allowance.
    bobs = APIClient()
    bobs.force_authenticate(bob)
    assert bobs.post(CHAT, {"message": ""}, format="json").status_code == 404  # no cat, no 429


@pytest.mark.django_db
def test_an_unknown_api_address_is_a_json_404(client: Any) -> None:
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_the_chat_route_lives_under_api_v1() -> None:
    assert reverse("cats_api:chat") == CHAT


@pytest.fixture
def two_connection_server(
    transactional_db: None, settings: SettingsWrapper
) -> Iterator[LiveServer]:
    """A server whose database pool holds two connections (the forked server makes its pool
    from these settings; this process's pool is closed on the way in and out)."""
    settings.OFFLINE_WORD_DELAY_MS = 30  # replies that take a while: the requests overlap
    wrapper = connections["default"]
    pool = wrapper.settings_dict["OPTIONS"]["pool"]
    size = pool["max_size"]
    pool["max_size"] = 2
    live = LiveServer()
    try:
        yield live
    finally:
        live.stop()
        pool["max_size"] = size
        connections.close_all()
        wrapper.close_pool()  # type: ignore[attr-defined]


def test_more_waiting_chats_than_pooled_connections_all_get_their_reply(
    two_connection_server: LiveServer, alice: User, whiskers: Cat
) -> None:
    # Each waiting request (JSON or a stream) must give its connection back: the reply it
    # waits for needs one too. Holding them, two requests would starve every reply.
    def json_chat(n: int) -> int:
        body = {"cat": whiskers.pk, "message": f"Hello number {n}"}
        url = two_connection_server.url + CHAT
        return httpx.post(url, json=body, headers=bearer(alice), timeout=30).status_code

    def streamed_chat(n: int) -> list[str]:
        body = {"cat": whiskers.pk, "message": f"Streamed hello {n}"}
        headers = {**bearer(alice), "Accept": "text/event-stream"}
        with (
            httpx.Client(timeout=30) as client,
            connect_sse(
                client, "POST", two_connection_server.url + CHAT, json=body, headers=headers
            ) as events,
        ):
            return [event.event for event in events.iter_sse()]

    with ThreadPoolExecutor(max_workers=5) as pool:
        waiting = [pool.submit(json_chat, n) for n in range(3)]
        streaming = [pool.submit(streamed_chat, n) for n in range(2)]
        answers = [future.result() for future in waiting]
        streams = [future.result() for future in streaming]

    assert answers == [200, 200, 200]
    assert all(kinds[-1] == "done" and "error" not in kinds for kinds in streams), [
        k[-4:] for k in streams
    ]
    replies = Message.objects.filter(role=Message.Role.CAT, conversation__cat=whiskers)
    assert sorted(replies.values_list("status", flat=True)) == ["complete"] * 5
