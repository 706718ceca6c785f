"""Importing past conversations: `POST cats/{id}/import/` and `manage.py import_conversations`
(PRODUCT.md "REST API", the README's "Importing past conversations")."""

from __future__ import annotations

import copy
import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from asgiref.sync import async_to_sync
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import AsyncClient
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from catchat import embeddings
from cats.models import Cat, Conversation, Message
from cats.services.imports import _client_id
from cats.tests.factories import CatFactory
from memories import learning
from memories.episodes import passage
from memories.models import Episode, ExtractionJob, Memory
from memories.recall import EPISODE, recall

if TYPE_CHECKING:
    from rest_framework.response import _MonkeyPatchedResponse as Response

pytestmark = pytest.mark.django_db

BREAKFAST = datetime(2024, 3, 1, 7, 0, tzinfo=UTC)  # 08:00 in Paris
EVENING = datetime(2024, 3, 2, 20, 0, tzinfo=UTC)
DOCUMENT: dict[str, Any] = {
    "sessions": [
        {
            "id": "breakfast",
            "started_at": "2024-03-01T08:00:00+01:00",
            "title": "Breakfast",
            "turns": [
                {"id": "t1", "role": "user", "text": "I have a dog named Rex."},
                {"id": "t2", "role": "cat", "text": "A dog? *hisses softly*"},
                {
                    "id": "t3",
                    "role": "user",
                    "text": "I love sushi!",
                    "time": "2024-03-01T08:05:00+01:00",
                },
                {"id": "t4", "role": "cat", "text": "Fish! Share?"},
            ],
        },
        {
            # No title and no turn ids: named after the first thing said, turns by their place.
            "id": 2,
            "started_at": "2024-03-02T20:00:00Z",
            "turns": [
                {"role": "user", "text": "  My sister Lea lives in Lyon.\n\x07"},
                {"role": "cat", "text": "Lyon! So many pigeons."},
                {"role": "cat", "text": "*purrs*"},
            ],
        },
    ]
}


def import_url(cat_id: int) -> str:
    return reverse("cats_api:import", args=[cat_id])


def post(client: APIClient, cat: Cat, document: object) -> Response:
    response: Response = client.post(
        import_url(cat.pk), json.dumps(document), content_type="application/json"
    )
    return response


def rows() -> dict[str, int]:
    return {
        "conversations": Conversation.objects.count(),
        "messages": Message.objects.count(),
        "episodes": Episode.objects.count(),
        "jobs": ExtractionJob.objects.count(),
    }


NOTHING = {"conversations": 0, "messages": 0, "episodes": 0, "jobs": 0}


@pytest.fixture
def alice_api(alice: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


@pytest.fixture
def whiskers(alice: User) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


def test_the_route_lives_under_api_v1() -> None:
    assert import_url(7) == "/api/v1/cats/7/import/"


def test_sessions_become_conversations_with_their_titles_and_original_times(
    alice_api: APIClient, whiskers: Cat
) -> None:
    response = post(alice_api, whiskers, DOCUMENT)

    assert response.status_code == 201, response.json()
    breakfast, evening = (
        Conversation.objects.get(pk=c["id"]) for c in response.json()["conversations"]
    )
    assert (breakfast.cat, breakfast.title) == (whiskers, "Breakfast")
    assert (evening.cat, evening.title) == (whiskers, "My sister Lea lives in Lyon.")
    assert (breakfast.created_at, breakfast.updated_at) == (
        BREAKFAST,
        BREAKFAST + timedelta(minutes=5, seconds=1),
    )
    assert (evening.created_at, evening.updated_at) == (EVENING, EVENING + timedelta(seconds=2))
    said = [
        (m.role, m.text, m.created_at, m.status, m.kept)
        for m in breakfast.messages.order_by("created_at", "id")
    ]
    assert said == [
        ("user", "I have a dog named Rex.", BREAKFAST, "complete", True),
        ("cat", "A dog? *hisses softly*", BREAKFAST + timedelta(seconds=1), "complete", True),
        ("user", "I love sushi!", BREAKFAST + timedelta(minutes=5), "complete", True),
        ("cat", "Fish! Share?", BREAKFAST + timedelta(minutes=5, seconds=1), "complete", True),
    ]
    # Cleaned as a chat message is: outer whitespace and control characters go.
    lea, pigeons, purr = evening.messages.order_by("created_at", "id")
    assert (lea.text, lea.created_at) == ("My sister Lea lives in Lyon.", EVENING)
    assert pigeons.created_at == EVENING + timedelta(seconds=1)
    assert purr.created_at == EVENING + timedelta(seconds=2)


def test_a_cat_turn_answers_the_user_turn_right_before_it(
    alice_api: APIClient, whiskers: Cat
) -> None:
    body = post(alice_api, whiskers, DOCUMENT).json()

    ids = body["messages"]
    replies = dict(Message.objects.filter(role="cat").values_list("pk", "reply_to_id"))
    assert replies[ids["t2"]] == ids["t1"]
    assert replies[ids["t4"]] == ids["t3"]
    evening = Conversation.objects.get(pk=body["conversations"][1]["id"])
    lea, pigeons, purr = evening.messages.order_by("created_at", "id")
    assert pigeons.reply_to == lea
    # A second cat turn in a row is not an alternative reply to the same message.
    assert purr.reply_to is None
    assert Message.objects.filter(role="user", reply_to__isnull=False).count() == 0


def test_the_answer_maps_each_turn_id_to_its_message(alice_api: APIClient, whiskers: Cat) -> None:
    response = post(alice_api, whiskers, DOCUMENT)

    body = response.json()
    assert set(body) == {"conversations", "messages", "imported", "skipped"}
    assert (body["imported"], body["skipped"]) == (7, 0)
    assert [c["session"] for c in body["conversations"]] == ["breakfast", "2"]
    texts = {key: Message.objects.get(pk=pk).text for key, pk in body["messages"].items()}
    # Turns without an id are not in the map (give ids to find them).
    assert texts == {
        "t1": "I have a dog named Rex.",
        "t2": "A dog? *hisses softly*",
        "t3": "I love sushi!",
        "t4": "Fish! Share?",
    }
    breakfast = body["conversations"][0]["id"]
    assert {Message.objects.get(pk=pk).conversation_id for pk in body["messages"].values()} == {
        breakfast
    }


def test_importing_the_same_document_again_adds_nothing(
    alice_api: APIClient, whiskers: Cat
) -> None:
    first = post(alice_api, whiskers, DOCUMENT).json()
    before = list(Message.objects.order_by("pk").values())
    counts = rows()

    again = post(alice_api, whiskers, DOCUMENT)

    assert again.status_code == 200
    assert again.json() == {**first, "imported": 0, "skipped": 7}
    assert list(Message.objects.order_by("pk").values()) == before
    assert rows() == counts


def test_turns_added_to_a_session_later_join_its_conversation(
    alice_api: APIClient, whiskers: Cat
) -> None:
    first = post(alice_api, whiskers, DOCUMENT).json()
    longer = copy.deepcopy(DOCUMENT)
    longer["sessions"][0]["turns"].append({"id": "t5", "role": "user", "text": "Bye!"})

    response = post(alice_api, whiskers, longer)

    assert response.status_code == 201
    body = response.json()
    assert (body["imported"], body["skipped"]) == (1, 7)
    assert body["conversations"] == first["conversations"]
    bye = Message.objects.get(pk=body["messages"]["t5"])
    breakfast = Conversation.objects.get(pk=first["conversations"][0]["id"])
    assert bye.conversation == breakfast
    assert bye.created_at == BREAKFAST + timedelta(minutes=5, seconds=2)
    assert breakfast.updated_at == bye.created_at
    assert Episode.objects.filter(message=bye).exists()


def test_the_same_document_for_another_cat_is_imported_again(
    alice_api: APIClient, alice: User, whiskers: Cat
) -> None:
    mochi = CatFactory.create(owner=alice, name="Mochi")
    post(alice_api, whiskers, DOCUMENT)

    response = post(alice_api, mochi, DOCUMENT)

    assert (response.status_code, response.json()["imported"]) == (201, 7)
    assert Conversation.objects.filter(cat=mochi).count() == 2


def _with(change: Any) -> dict[str, Any]:
    document = copy.deepcopy(DOCUMENT)
    change(document)
    return document


def _turn(document: dict[str, Any], i: int, j: int) -> dict[str, Any]:
    turn: dict[str, Any] = document["sessions"][i]["turns"][j]
    return turn


BAD_DOCUMENTS = {
    "missing role": (
        _with(lambda d: _turn(d, 1, 1).pop("role")),
        ("sessions", 1, "turns", 1, "role"),
    ),
    "unknown role": (
        _with(lambda d: _turn(d, 0, 2).update(role="bot")),
        ("sessions", 0, "turns", 2, "role"),
    ),
    "bad time": (
        _with(lambda d: _turn(d, 0, 2).update(time="yesterday")),
        ("sessions", 0, "turns", 2, "time"),
    ),
    "time before the previous turn": (
        _with(lambda d: _turn(d, 0, 3).update(time="2024-03-01T08:01:00+01:00")),
        ("sessions", 0, "turns", 3, "time"),
    ),
    "time before the session's start": (
        _with(lambda d: _turn(d, 1, 0).update(time="2024-03-02T19:00:00Z")),
        ("sessions", 1, "turns", 0, "time"),
    ),
    "time in the future": (
        _with(lambda d: _turn(d, 1, 2).update(time="2999-01-01T00:00:00Z")),
        ("sessions", 1, "turns", 2, "time"),
    ),
    "missing start": (
        _with(lambda d: d["sessions"][1].pop("started_at")),
        ("sessions", 1, "started_at"),
    ),
    "empty text": (
        _with(lambda d: _turn(d, 1, 2).update(text=" \n\t ")),
        ("sessions", 1, "turns", 2, "text"),
    ),
    "text too long": (
        _with(lambda d: _turn(d, 0, 1).update(text="m" * 4001)),
        ("sessions", 0, "turns", 1, "text"),
    ),
    "text not a string": (
        _with(lambda d: _turn(d, 0, 1).update(text=42)),
        ("sessions", 0, "turns", 1, "text"),
    ),
    "duplicate turn ids": (
        _with(lambda d: _turn(d, 1, 1).update(id="t2")),
        ("sessions", 1, "turns", 1, "id"),
    ),
    "duplicate session ids": (
        _with(lambda d: d["sessions"][1].update(id="breakfast")),
        ("sessions", 1, "id"),
    ),
    "missing session id": (
        _with(lambda d: d["sessions"][0].pop("id")),
        ("sessions", 0, "id"),
    ),
    "a session without turns": (
        _with(lambda d: d["sessions"][1].update(turns=[])),
        ("sessions", 1, "turns", "non_field_errors"),
    ),
    "turns not a list": (
        _with(lambda d: d["sessions"][0].update(turns={"role": "user", "text": "hi"})),
        ("sessions", 0, "turns", "non_field_errors"),
    ),
    "sessions not a list": (
        {"sessions": DOCUMENT["sessions"][0]},
        ("sessions", "non_field_errors"),
    ),
    "no sessions": ({}, ("sessions",)),
    "not an object": ([DOCUMENT], ("non_field_errors",)),
}


@pytest.mark.parametrize("case", BAD_DOCUMENTS)
def test_a_bad_document_is_a_400_pointing_at_the_place_and_imports_nothing(
    alice_api: APIClient, whiskers: Cat, case: str
) -> None:
    document, path = BAD_DOCUMENTS[case]

    response = post(alice_api, whiskers, document)

    assert response.status_code == 400
    found: Any = response.json()
    for step in path:
        found = found[str(step)]
    assert isinstance(found, list) and found and all(isinstance(e, str) for e in found), found
    assert rows() == NOTHING


def test_the_errors_of_a_document_are_all_reported_at_once(
    alice_api: APIClient, whiskers: Cat
) -> None:
    def breaks(document: dict[str, Any]) -> None:
        _turn(document, 0, 0).update(id="t3")
        _turn(document, 1, 2).update(text="")

    response = post(alice_api, whiskers, _with(breaks))

    assert response.status_code == 400
    assert response.json() == {
        "sessions": {
            "0": {"turns": {"2": {"id": ["Turn id 't3' is used by sessions[0].turns[0]."]}}},
            "1": {"turns": {"2": {"text": ["This field may not be blank."]}}},
        }
    }


def test_a_document_over_20000_turns_is_refused_before_its_turns_are_read(
    alice_api: APIClient, whiskers: Cat
) -> None:
    turn = {"role": "user"}  # not even valid: never looked at
    document = {
        "sessions": [{"id": i, "started_at": "x", "turns": [turn] * 5001} for i in range(4)]
    }

    response = post(alice_api, whiskers, document)

    assert response.status_code == 400
    (message,) = response.json()["sessions"]
    assert "At most 20000 turns" in message and "20004" in message
    assert rows() == NOTHING


def test_another_users_cat_is_a_404_and_nothing_is_imported(
    bob: User, alice_api: APIClient
) -> None:
    rex = CatFactory.create(owner=bob, name="Rex")

    response = post(alice_api, rex, DOCUMENT)

    assert (response.status_code, response.json()) == (404, {"detail": "No such cat."})
    assert rows() == NOTHING


def test_a_missing_cat_is_a_404_whatever_the_body(alice_api: APIClient) -> None:
    response = alice_api.post(import_url(999_999), "[]", content_type="application/json")

    assert (response.status_code, response.json()) == (404, {"detail": "No such cat."})


def test_without_credentials_it_is_a_401_with_a_bearer_challenge(whiskers: Cat) -> None:
    response = post(APIClient(), whiskers, DOCUMENT)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert rows() == NOTHING


def test_the_users_turns_are_recalled_as_soon_as_the_import_returns(
    alice_api: APIClient, whiskers: Cat
) -> None:
    body = post(alice_api, whiskers, DOCUMENT).json()

    episodes = {e.message_id: e for e in Episode.objects.all()}
    users = Message.objects.filter(role="user")
    assert set(episodes) == {m.pk for m in users}  # the cat's lines are no episodes
    for message in users:
        episode = episodes[message.pk]
        assert (episode.text, episode.said_at) == (message.text, message.created_at)
        assert episode.embedding is None  # learning embeds it, in the background
    question = "What food do I love?"
    found = recall(
        profile=whiskers.memory_profile,
        query_text=question,
        query_vector=embeddings.embed_query_sync(question),
        model=embeddings.model_name(),
        limit=3,
        token_budget=800,
    )
    # Found by its words at once.
    assert (EPISODE, body["messages"]["t3"]) in [(r.kind, r.id) for r in found]


def test_a_cat_with_memory_switched_off_keeps_no_episodes_and_learns_nothing(
    alice_api: APIClient, whiskers: Cat
) -> None:
    profile = whiskers.memory_profile
    profile.enabled = False
    profile.save(update_fields=["enabled"])

    response = post(alice_api, whiskers, DOCUMENT)

    assert response.status_code == 201
    assert rows() == {"conversations": 2, "messages": 7, "episodes": 0, "jobs": 0}


@pytest.mark.django_db(transaction=True)
def test_the_cat_learns_from_the_imported_turns_in_the_background(
    alice_api: APIClient, whiskers: Cat
) -> None:
    body = post(alice_api, whiskers, DOCUMENT).json()
    users = set(Message.objects.filter(role="user").values_list("pk", flat=True))
    jobs = ExtractionJob.objects.all()
    assert {j.message_id for j in jobs} == users  # one job per user turn, none for the cat's
    assert {j.status for j in jobs} == {ExtractionJob.Status.PENDING}

    assert async_to_sync(learning.drain)() == 3

    facts = {m.text: m for m in Memory.objects.filter(profile__cat=whiskers, status="active")}
    rex = next(m for text, m in facts.items() if "Rex" in text)
    sushi = next(m for text, m in facts.items() if "sushi" in text)
    assert rex.source_message_id == body["messages"]["t1"]
    # True since it was said, not since it was imported.
    assert rex.valid_from == BREAKFAST
    assert sushi.valid_from == BREAKFAST + timedelta(minutes=5)
    assert any("Lea" in text for text in facts)
    assert {j.status for j in ExtractionJob.objects.all()} == {ExtractionJob.Status.DONE}
    # And each episode got its vector: the message between the cat's lines, as a passage.
    episodes = list(Episode.objects.all())
    assert episodes and all(e.embedding_model == embeddings.model_name() for e in episodes)
    first = Episode.objects.get(pk=body["messages"]["t1"])
    assert first.after  # the cat's answer
    expected = embeddings.embed_passages_sync(
        [passage(whiskers.name, first.text, first.before, first.after)]
    )[0]
    assert first.embedding is not None
    assert list(first.embedding) == pytest.approx(expected, abs=1e-6)


@pytest.mark.django_db(transaction=True)
async def test_on_a_server_learning_starts_when_the_import_returns(
    alice: User, whiskers: Cat
) -> None:
    client = AsyncClient()

    # Through Django's ASGI handler, on this event loop, as under daphne.
    response = await client.post(
        import_url(whiskers.pk),
        json.dumps(DOCUMENT),
        content_type="application/json",
        headers={"authorization": f"Bearer {AccessToken.for_user(alice)}"},
    )

    assert response.status_code == 201
    await learning.wait_idle()  # the drain the import started on this loop
    learned = Memory.objects.filter(profile__cat_id=whiskers.pk, text__contains="Rex")
    assert await learned.aexists()
    pending = ExtractionJob.objects.exclude(status=ExtractionJob.Status.DONE)
    assert not await pending.aexists()


# --- manage.py import_conversations ---------------------------------------------------------


def test_the_command_imports_a_file_as_the_api_does(
    alice: User, whiskers: Cat, tmp_path: Path
) -> None:
    path = tmp_path / "history.json"
    path.write_text(json.dumps(DOCUMENT), encoding="utf-8")
    out = io.StringIO()

    call_command(
        "import_conversations", str(path), user="alice", cat=whiskers.pk, no_learn=True, stdout=out
    )

    assert "Imported 7 messages in 2 conversations (0 skipped" in out.getvalue()
    assert rows() == {"conversations": 2, "messages": 7, "episodes": 3, "jobs": 3}
    assert Message.objects.order_by("created_at").first().created_at == BREAKFAST  # type: ignore[union-attr]


def test_the_command_reads_standard_input_and_adds_nothing_twice(
    alice: User, whiskers: Cat, monkeypatch: pytest.MonkeyPatch
) -> None:
    for _ in range(2):
        monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(DOCUMENT)))
        out = io.StringIO()
        call_command("import_conversations", "-", user="alice", cat=whiskers.pk, stdout=out)

    assert "Imported 0 messages in 2 conversations (7 skipped" in out.getvalue()
    assert rows() == {"conversations": 2, "messages": 7, "episodes": 3, "jobs": 3}


def test_the_command_refuses_a_bad_document_with_the_place_of_each_error(
    alice: User, whiskers: Cat, tmp_path: Path
) -> None:
    document = _with(lambda d: (_turn(d, 0, 1).update(role="bot"), _turn(d, 1, 0).pop("text")))
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    with pytest.raises(CommandError) as refused:
        call_command("import_conversations", str(path), user="alice", cat=whiskers.pk)

    assert str(refused.value).splitlines() == [
        'sessions[0].turns[1].role: "bot" is not a valid choice.',
        "sessions[1].turns[0].text: This field is required.",
    ]
    assert rows() == NOTHING


@pytest.mark.parametrize(
    ("content", "error"),
    [("{not json", "is not a JSON document"), (None, "Cannot read")],
)
def test_the_command_refuses_a_file_it_cannot_read(
    alice: User, whiskers: Cat, tmp_path: Path, content: str | None, error: str
) -> None:
    path = tmp_path / "history.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")

    with pytest.raises(CommandError, match=error):
        call_command("import_conversations", str(path), user="alice", cat=whiskers.pk)


def test_the_command_refuses_someone_elses_cat(alice: User, bob: User, tmp_path: Path) -> None:
    rex = CatFactory.create(owner=bob, name="Rex")
    path = tmp_path / "history.json"
    path.write_text(json.dumps(DOCUMENT), encoding="utf-8")

    with pytest.raises(CommandError, match=f"alice has no cat with id {rex.pk}"):
        call_command("import_conversations", str(path), user="alice", cat=rex.pk)
    assert rows() == NOTHING


@pytest.mark.django_db(transaction=True)
def test_the_command_learns_before_it_exits(alice: User, whiskers: Cat, tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    path.write_text(json.dumps(DOCUMENT), encoding="utf-8")
    out = io.StringIO()

    call_command("import_conversations", str(path), user="alice", cat=whiskers.pk, stdout=out)

    assert "Learned from 3 messages" in out.getvalue()
    assert Memory.objects.filter(profile__cat=whiskers, text__contains="Rex").exists()


# --- size ------------------------------------------------------------------------------------


def test_5000_messages_import_in_one_call(alice_api: APIClient, whiskers: Cat) -> None:
    sessions = [
        {
            "id": f"day-{day}",
            "started_at": (BREAKFAST + timedelta(days=day)).isoformat(),
            "turns": [
                turn
                for i in range(25)
                for turn in (
                    {
                        "id": f"{day}-{i}-u",
                        "role": "user",
                        "text": f"Day {day}, note {i}: I walked my dog Rex to the park.",
                    },
                    {"id": f"{day}-{i}-c", "role": "cat", "text": f"*yawns* Note {i}, noted."},
                )
            ],
        }
        for day in range(100)
    ]
    started = time.monotonic()

    response = post(alice_api, whiskers, {"sessions": sessions})

    took = time.monotonic() - started
    print(f"\n5,000 messages (2,500 user) imported in {took:.1f} s")  # noqa: T201
    assert response.status_code == 201
    body = response.json()
    assert (body["imported"], body["skipped"], len(body["messages"])) == (5000, 0, 5000)
    assert rows() == {"conversations": 100, "messages": 5000, "episodes": 2500, "jobs": 2500}
    last = Message.objects.get(pk=body["messages"]["99-24-c"])
    assert last.created_at == BREAKFAST + timedelta(days=99, seconds=49)


@pytest.mark.django_db(transaction=True)
def test_two_imports_of_one_document_at_once_add_it_once(alice: User, whiskers: Cat) -> None:
    def one() -> dict[str, Any]:
        client = APIClient()
        client.force_authenticate(alice)
        try:
            response = post(client, whiskers, DOCUMENT)
            assert response.status_code in {200, 201}, response.json()
            answer: dict[str, Any] = response.json()
            return answer
        finally:
            connections.close_all()

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda _: one(), range(2))

    assert first["messages"] == second["messages"]
    assert first["imported"] + second["imported"] == 7
    assert rows() == {"conversations": 2, "messages": 7, "episodes": 3, "jobs": 3}


def test_a_time_past_the_end_of_the_calendar_is_a_field_error_not_a_500(
    alice_api: APIClient, whiskers: Cat
) -> None:
    document = {
        "sessions": [
            {
                "id": "s",
                "started_at": "9999-12-31T23:59:59Z",
                "turns": [{"role": "user", "text": "a"}, {"role": "cat", "text": "b"}],
            }
        ]
    }
    response = post(alice_api, whiskers, document)
    assert response.status_code == 400
    assert "started_at" in response.json()["sessions"]["0"]
    assert not Message.objects.exists()


def test_an_imported_turns_client_id_cannot_be_worked_out_by_another_user(
    alice_api: APIClient, whiskers: Cat, settings: Any
) -> None:
    # It was uuid5 of a namespace in the source: another user could send a chat message with
    # it first (the import then failed with a 500) or probe it (a 409 told it was imported).
    made = _client_id(whiskers, "s1", ["id", "t1"])
    assert made == _client_id(whiskers, "s1", ["id", "t1"])  # the same turn, the same id
    settings.SECRET_KEY = "another-" + "k" * 50
    assert _client_id(whiskers, "s1", ["id", "t1"]) != made  # keyed by the server's secret
