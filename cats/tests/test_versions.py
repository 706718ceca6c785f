"""Editing a sent message: the new text is a new version with a reply of its own; the earlier
version and the turns after it stay, hidden, as a branch that `chat.keep` shows again; the cat
learns from the version shown. Real consumer, real PostgreSQL, the offline brain (and the real
mistralai SDK against the fake Mistral server where the prompt is looked at); REST through
DRF's client.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from catchat.testing.fake_mistral import Reply
from cats import chat, frames
from cats.models import Cat, Conversation, Message
from cats.selectors import conversations_search
from cats.services import ChatInputError, message_accept, reply_begin, reply_keep
from cats.services.versions import versions_of
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from cats.tests.test_alternatives import (  # noqa: F401 - the autouse fixture
    _no_reply_outlives_its_test,
    history_of,
)
from cats.tests.test_consumers import open_chat, receive_until, send_frame, streamed_requests
from memories import learning
from memories.models import Episode, ExtractionJob, Memory, MemoryHistory
from memories.services import memory_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def whiskers(alice: Any) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


def send(cat: Cat, text: str, conversation_id: int | None = None, **kw: Any) -> Message:
    """`text` saved as the chat saves it (`message_accept`, a new client_id); `kw`: `edit_of`."""
    return message_accept(
        cat=cat, text=text, client_id=uuid.uuid4(), conversation_id=conversation_id, **kw
    ).message


def edit_frame(message_id: int, text: str, client_id: str | None = None) -> dict:
    return {
        "type": "chat.send",
        "text": text,
        "client_id": client_id or str(uuid.uuid4()),
        "edit_of": message_id,
    }


async def say(comm: Any, text: str, conversation: int | None = None) -> tuple[dict, dict]:
    """Send `text`; (the saved message, the finished reply)."""
    await comm.send_json_to(send_frame(text, conversation=conversation))
    heard = await receive_until(comm, "chat.done")
    accepted = next(f for f in heard if f["type"] == "chat.accepted")
    return accepted["message"], heard[-1]["message"]


async def edit(comm: Any, message_id: int, text: str) -> tuple[dict, dict]:
    """Edit message `message_id` to `text`; (the `chat.accepted` frame, the finished reply)."""
    await comm.send_json_to(edit_frame(message_id, text))
    heard = await receive_until(comm, "chat.done")
    accepted = next(f for f in heard if f["type"] == "chat.accepted")
    return accepted, heard[-1]["message"]


@database_sync_to_async
def shown(conversation_id: int) -> list[tuple[str, str]]:
    """The conversation's shown path: (role, text), in order."""
    return list(
        Message.objects.filter(conversation_id=conversation_id, kept=True)
        .order_by("created_at", "id")
        .values_list("role", "text")
    )


async def show(comm: Any, message_id: int) -> dict:
    await comm.send_json_to({"type": "chat.keep", "message_id": message_id})
    return (await receive_until(comm, "chat.branched"))[-1]


# --- the socket --------------------------------------------------------------------------------


async def test_an_edit_is_a_new_version_with_its_own_reply_and_the_old_turn_is_kept(
    alice: Any, whiskers: Cat
) -> None:
    tab = await open_chat(alice, whiskers)
    other_tab = await open_chat(alice, whiskers)
    asked, answered = await say(tab, "I have a dgo")
    await receive_until(other_tab, "chat.done")

    accepted, reply = await edit(tab, asked["id"], "I have a dog")
    seen_elsewhere = (await receive_until(other_tab, "chat.done"))[0]

    assert seen_elsewhere == accepted  # every tab hears the edit, with what it replaces
    assert set(accepted) == set(frames.Accepted.__annotations__)
    assert accepted["replaces"] == asked["id"]
    version = accepted["message"]
    assert version["edit_of"] == asked["id"] and version["text"] == "I have a dog"
    assert version["conversation"] == asked["conversation"] and version["kept"] is True
    assert reply["reply_to"] == version["id"] and reply["status"] == "complete"
    assert await shown(asked["conversation"]) == [("user", "I have a dog"), ("cat", reply["text"])]
    conversation = await database_sync_to_async(
        Conversation.objects.get  # its title was made from the first message: it follows
    )(pk=asked["conversation"])
    assert conversation.title == "I have a dog"
    old = await database_sync_to_async(Message.objects.get)(pk=asked["id"])
    old_reply = await database_sync_to_async(Message.objects.get)(pk=answered["id"])
    assert (old.kept, old.branch_of_id) == (False, None)  # a version not shown
    assert (old_reply.kept, old_reply.branch_of_id) == (False, asked["id"])  # its branch
    await tab.disconnect()
    await other_tab.disconnect()


async def test_editing_an_earlier_message_hides_the_later_turns_and_keep_brings_them_back(
    alice: Any, whiskers: Cat
) -> None:
    tab = await open_chat(alice, whiskers)
    first, first_reply = await say(tab, "one")
    conversation = first["conversation"]
    second, second_reply = await say(tab, "two", conversation)
    third, third_reply = await say(tab, "three", conversation)
    before = await shown(conversation)
    other_tab = await open_chat(alice, whiskers)

    accepted, reply = await edit(tab, second["id"], "TWO")
    assert await shown(conversation) == [
        ("user", "one"),
        ("cat", first_reply["text"]),
        ("user", "TWO"),
        ("cat", reply["text"]),
    ]

    branched = await show(tab, second["id"])
    assert branched == (await receive_until(other_tab, "chat.branched"))[-1]
    assert set(branched) == set(frames.Branched.__annotations__)
    assert (branched["conversation"], branched["message_id"]) == (conversation, second["id"])
    assert branched["message"]["kept"] is True and branched["message"]["text"] == "two"
    assert await shown(conversation) == before

    await show(tab, accepted["message"]["id"])  # and forth again
    assert [text for _, text in await shown(conversation)][2:] == ["TWO", reply["text"]]
    await tab.disconnect()
    await other_tab.disconnect()


async def test_a_branch_comes_back_as_it_was_left_nested_edits_and_kept_replies_included(
    alice: Any, whiskers: Cat, mistral: Any
) -> None:
    mistral.script(*(Reply(f"answer {n}") for n in range(1, 9)))
    tab = await open_chat(alice, whiskers)
    first, _ = await say(tab, "one")
    conversation = first["conversation"]
    second, _ = await say(tab, "two", conversation)
    # In the branch of "one": "two" edited, and its reply regenerated then flipped back.
    two_b, _ = await edit(tab, second["id"], "two b")
    await tab.send_json_to({"type": "chat.regenerate", "conversation": conversation})
    regenerated = (await receive_until(tab, "chat.done"))[-1]["message"]
    kept_reply = await database_sync_to_async(
        lambda: Message.objects.filter(reply_to_id=two_b["message"]["id"]).order_by("id").first()
    )()
    assert kept_reply is not None and kept_reply.pk != regenerated["id"]
    await tab.send_json_to({"type": "chat.keep", "message_id": kept_reply.pk})
    await receive_until(tab, "chat.kept")
    branch = await shown(conversation)
    assert [text for _, text in branch] == ["one", "answer 1", "two b", "answer 3"]

    one_b, _ = await edit(tab, first["id"], "one b")
    assert [text for _, text in await shown(conversation)] == ["one b", "answer 5"]
    await show(tab, first["id"])

    assert await shown(conversation) == branch
    # The model is shown that branch too: the next turn's history.
    await say(tab, "three", conversation)
    assert [text for _, text in history_of(streamed_requests(mistral)[-1])] == [
        *[text for _, text in branch],
        "three",
    ]
    await tab.disconnect()


async def test_the_model_sees_the_edited_text_and_not_the_old_turn(
    alice: Any, whiskers: Cat, mistral: Any
) -> None:
    mistral.script(Reply("A cat? Hiss."), Reply("A dog? Woof."), Reply("Later."))
    tab = await open_chat(alice, whiskers)
    asked, _ = await say(tab, "I have a cat")
    await edit(tab, asked["id"], "I have a dog")
    assert history_of(streamed_requests(mistral)[-1]) == [("user", "I have a dog")]

    await say(tab, "bye", asked["conversation"])
    assert history_of(streamed_requests(mistral)[-1]) == [
        ("user", "I have a dog"),
        ("assistant", "A dog? Woof."),
        ("user", "bye"),
    ]
    await tab.disconnect()


async def test_regenerate_after_switching_back_answers_the_version_shown(
    alice: Any, whiskers: Cat
) -> None:
    tab = await open_chat(alice, whiskers)
    asked, _ = await say(tab, "first try")
    await edit(tab, asked["id"], "second try")
    await show(tab, asked["id"])

    await tab.send_json_to({"type": "chat.regenerate", "conversation": asked["conversation"]})
    started = next(f for f in await receive_until(tab, "chat.done") if f["type"] == "chat.started")
    assert started["message"]["reply_to"] == asked["id"]
    await tab.disconnect()


async def test_an_edit_resent_with_the_same_client_id_is_the_same_message(
    alice: Any, whiskers: Cat
) -> None:
    tab = await open_chat(alice, whiskers)
    asked, _ = await say(tab, "helo")
    frame = edit_frame(asked["id"], "hello")
    await tab.send_json_to(frame)
    first = (await receive_until(tab, "chat.accepted"))[-1]
    await receive_until(tab, "chat.done")

    await tab.send_json_to(frame)  # the network lost the answer: the tab sends it again
    again = (await receive_until(tab, "chat.accepted"))[-1]

    assert again["message"]["id"] == first["message"]["id"]
    assert await tab.receive_nothing(timeout=0.3)  # no second reply
    count = await database_sync_to_async(
        Message.objects.filter(conversation_id=asked["conversation"]).count
    )()
    assert count == 4
    await tab.disconnect()


@pytest.fixture
def bobs_message(bob: Any) -> Message:
    conversation = ConversationFactory.create(cat=CatFactory.create(owner=bob, name="Rex"))
    return MessageFactory.create(conversation=conversation, text="Woof?")


async def test_edits_that_cannot_be_are_refused_and_change_nothing(
    alice: Any, whiskers: Cat, bobs_message: Message
) -> None:
    tab = await open_chat(alice, whiskers)
    asked, reply = await say(tab, "one")
    conversation = asked["conversation"]
    other, _ = await say(tab, "elsewhere")  # another conversation
    accepted, _ = await edit(tab, asked["id"], "uno")
    before = await shown(conversation)

    for message_id, code in (
        (bobs_message.pk, "not_found"),  # someone else's
        (2**62, "not_found"),
        (reply["id"], "bad_frame"),  # the cat's words are not the human's to edit
        (asked["id"], "conflict"),  # a version no longer shown
    ):
        frame = edit_frame(message_id, "changed")
        await tab.send_json_to(frame)
        error = await tab.receive_json_from()
        assert (error["type"], error["code"]) == ("error", code), (message_id, error)
        assert error["client_id"] == frame["client_id"]
    # An id in another conversation than the one named.
    await tab.send_json_to({**edit_frame(other["id"], "x"), "conversation": conversation})
    assert (await tab.receive_json_from())["code"] == "not_found"
    for bad in (True, "12", 0, -3, 1.5):
        await tab.send_json_to(edit_frame(bad, "x"))  # type: ignore[arg-type]
        assert (await tab.receive_json_from())["code"] == "bad_frame", bad
    await tab.send_json_to(edit_frame(accepted["message"]["id"], "   "))
    assert (await tab.receive_json_from())["code"] == "empty"

    assert await shown(conversation) == before
    assert await tab.receive_nothing(timeout=0.2)
    await tab.disconnect()


async def test_an_edit_while_the_cat_answers_is_busy_and_keeps_everything(
    alice: Any, whiskers: Cat, mistral: Any
) -> None:
    tab = await open_chat(alice, whiskers)
    mistral.script(Reply("First."))
    asked, _ = await say(tab, "one")
    hold = threading.Event()
    mistral.script(Reply(["Once", " upon", " a", " time"], hold=hold))
    await tab.send_json_to(send_frame("two", conversation=asked["conversation"]))
    await receive_until(tab, "chat.delta")

    await tab.send_json_to(edit_frame(asked["id"], "uno"))
    error = (await receive_until(tab, "error"))[-1]
    await tab.send_json_to({"type": "chat.keep", "message_id": asked["id"]})
    not_now = (await receive_until(tab, "error"))[-1]

    assert error["code"] == "busy" and not_now["code"] == "busy"
    hold.set()
    await receive_until(tab, "chat.done")
    assert [text for _, text in await shown(asked["conversation"])] == [
        "one",
        "First.",
        "two",
        "Once upon a time",
    ]
    await tab.disconnect()


async def test_keeping_a_reply_in_a_hidden_branch_is_refused(alice: Any, whiskers: Cat) -> None:
    tab = await open_chat(alice, whiskers)
    asked, reply = await say(tab, "one")
    await edit(tab, asked["id"], "uno")
    before = await shown(asked["conversation"])

    await tab.send_json_to({"type": "chat.keep", "message_id": reply["id"]})
    error = await tab.receive_json_from()

    assert (error["type"], error["code"]) == ("error", "conflict")
    assert await shown(asked["conversation"]) == before
    await tab.disconnect()


def test_two_edits_of_one_message_at_once_make_one_version(alice: Any, whiskers: Cat) -> None:
    conversation = ConversationFactory.create(cat=whiskers)
    asked = MessageFactory.create(conversation=conversation, text="one")
    MessageFactory.create(
        conversation=conversation, role=Message.Role.CAT, reply_to=asked, text="Mrow."
    )
    outcomes: list[object] = []
    start = threading.Barrier(2)

    def edit_in_thread(text: str) -> None:
        start.wait()
        try:
            outcomes.append(send(whiskers, text, edit_of=asked.pk).text)
        except ChatInputError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=edit_in_thread, args=(t,)) for t in ("uno", "eins")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(map(str, outcomes))[0] == "conflict"
    (winner,) = [o for o in outcomes if o != "conflict"]
    assert list(
        Message.objects.filter(conversation=conversation, kept=True).values_list("text", flat=True)
    ) == [winner]


# --- what the cat learns -----------------------------------------------------------------------


def facts_of(message_id: int) -> list[tuple[str, str]]:
    return sorted(Memory.objects.filter(source_message_id=message_id).values_list("text", "status"))


def test_an_edit_supersedes_what_was_learned_from_the_old_text(alice: Any, whiskers: Cat) -> None:
    asked = send(whiskers, "I have a cat named Rex.")
    async_to_sync(learning.drain)()
    assert facts_of(asked.pk) and all(s == "active" for _, s in facts_of(asked.pk))
    assert Episode.objects.filter(message=asked).exists()

    edited = send(whiskers, "I have a dog named Rex.", asked.conversation_id, edit_of=asked.pk)
    async_to_sync(learning.drain)()

    assert all(status == "superseded" for _, status in facts_of(asked.pk))
    withdrawn = Memory.objects.filter(source_message_id=asked.pk).first()
    assert withdrawn is not None and withdrawn.superseded_by is None
    note = withdrawn.history.get(operation=MemoryHistory.Operation.SUPERSEDE)
    assert (note.actor, note.actor_user) == (MemoryHistory.Actor.USER, alice)
    assert f"edited (message {asked.pk})" in note.note
    assert not Episode.objects.filter(message=asked).exists()  # not recalled as said
    assert any("dog" in text.lower() for text, s in facts_of(edited.pk) if s == "active")
    assert Episode.objects.filter(message=edited).exists()


def test_an_edit_before_learning_ran_never_learns_the_old_text(alice: Any, whiskers: Cat) -> None:
    asked = send(whiskers, "I live in Lyon.")
    send(whiskers, "I live in Paris.", asked.conversation_id, edit_of=asked.pk)
    async_to_sync(learning.drain)()

    assert facts_of(asked.pk) == []
    assert ExtractionJob.objects.get(message=asked).error.startswith(ExtractionJob.TAKEN_BACK)
    texts = list(Memory.objects.filter(status="active").values_list("text", flat=True))
    assert any("Paris" in t for t in texts) and not any("Lyon" in t for t in texts)


def test_switching_versions_learns_from_the_one_shown(alice: Any, whiskers: Cat) -> None:
    asked = send(whiskers, "I love sushi.")
    async_to_sync(learning.drain)()
    edited = send(whiskers, "I love pizza.", asked.conversation_id, edit_of=asked.pk)
    async_to_sync(learning.drain)()

    reply_keep(cat=whiskers, message_id=asked.pk)  # back to the first version
    async_to_sync(learning.drain)()

    texts = list(Memory.objects.filter(status="active").values_list("text", flat=True))
    assert any("sushi" in t.lower() for t in texts), texts
    assert not any("pizza" in t.lower() for t in texts), texts
    assert Episode.objects.filter(message=asked).exists()
    assert not Episode.objects.filter(message=edited).exists()


def test_a_fact_from_the_old_text_corrected_by_hand_is_superseded_too(
    alice: Any, whiskers: Cat
) -> None:
    asked = send(whiskers, "hello")
    memory = memory_create(
        profile=whiskers.memory_profile, text="Has a dog", source_message_id=asked.pk
    )
    send(whiskers, "hello there", asked.conversation_id, edit_of=asked.pk)
    memory.refresh_from_db()
    assert memory.status == Memory.Status.SUPERSEDED


# --- REST ---------------------------------------------------------------------------------------


@pytest.fixture
def alice_api(alice: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


def test_rest_edit_then_keep_and_the_shown_path(alice_api: APIClient, whiskers: Cat) -> None:
    chat_url = reverse("cats_api:chat")
    first = alice_api.post(chat_url, {"cat": whiskers.pk, "message": "one"}, format="json")
    assert first.status_code == 200, first.content
    asked = first.json()["message"]

    edited = alice_api.post(
        chat_url,
        {"cat": whiskers.pk, "message": "uno", "edit_of": asked["id"]},
        format="json",
    )
    assert edited.status_code == 200, edited.content
    version = edited.json()["message"]
    assert version["edit_of"] == asked["id"] and edited.json()["reply"]["reply_to"] == version["id"]

    messages_url = reverse("cats_api:message-list", args=[asked["conversation"]])
    path = alice_api.get(messages_url, {"kept": "true"}).json()["results"]
    assert [(m["role"], m["text"]) for m in path][0] == ("user", "uno") and len(path) == 2
    assert len(alice_api.get(messages_url).json()["results"]) == 4
    hidden = alice_api.get(messages_url, {"kept": "false"}).json()["results"]
    assert [m["text"] for m in hidden][0] == "one" and len(hidden) == 2
    assert alice_api.get(messages_url, {"kept": "maybe"}).status_code == 400

    keep_url = reverse("cats_api:message-keep", args=[asked["id"]])
    kept = alice_api.post(keep_url)
    assert kept.status_code == 200 and kept.json()["id"] == asked["id"]
    path = alice_api.get(messages_url, {"kept": "true"}).json()["results"]
    assert path[0]["text"] == "one"

    # Errors: a hidden version is a conflict; someone else's message a 404.
    refused = alice_api.post(
        chat_url, {"cat": whiskers.pk, "message": "x", "edit_of": version["id"]}, format="json"
    )
    assert refused.status_code == 409
    assert refused.json()["detail"].startswith("That version is no longer shown")


def test_rest_edit_of_someone_elses_message_is_404(
    alice_api: APIClient, whiskers: Cat, bobs_message: Message
) -> None:
    response = alice_api.post(
        reverse("cats_api:chat"),
        {"cat": whiskers.pk, "message": "mine now", "edit_of": bobs_message.pk},
        format="json",
    )
    assert response.status_code == 404
    assert response.json()["detail"] == "No such message."
    keep = alice_api.post(reverse("cats_api:message-keep", args=[bobs_message.pk]))
    assert keep.status_code == 404
    assert not Message.objects.filter(edit_of=bobs_message).exists()


# --- reading versions: no query per message ----------------------------------------------------


def test_versions_of_is_one_query_whatever_the_number_of_edited_messages(whiskers: Cat) -> None:
    conversation = ConversationFactory.create(cat=whiskers)

    def turns(count: int) -> list[Message]:
        path = []
        for n in range(count):
            first = MessageFactory.create(conversation=conversation, text=f"v1 {n}", kept=False)
            path.append(
                MessageFactory.create(conversation=conversation, text=f"v2 {n}", edit_of=first)
            )
        return path

    few = turns(1)
    with CaptureQueriesContext(connection) as one:
        found = versions_of(few)
    many = turns(10)
    with CaptureQueriesContext(connection) as ten:
        found_many = versions_of(few + many)

    assert len(one) == len(ten) == 1
    assert [m.text for m in found[few[0].edit_of_id or 0]] == ["v1 0", "v2 0"]
    assert len(found_many) == 11
    assert versions_of([]) == {}


def test_a_title_the_human_chose_stays_when_the_first_message_is_edited(whiskers: Cat) -> None:
    asked = send(whiskers, "hello")
    Conversation.objects.filter(pk=asked.conversation_id).update(title="Our talk")
    send(whiskers, "hello there", edit_of=asked.pk)  # its conversation found from the message
    assert Conversation.objects.get(pk=asked.conversation_id).title == "Our talk"


def test_a_message_switched_away_from_before_its_reply_began_gets_no_reply(
    whiskers: Cat,
) -> None:
    # The tab sent "two"; before its reply began, another tab showed the first version of "one"
    # (hiding "two" with the branch). The reply must not land on the shown path.
    asked = send(whiskers, "one")
    send(whiskers, "uno", asked.conversation_id, edit_of=asked.pk)
    two = send(whiskers, "two", asked.conversation_id)
    reply_keep(cat=whiskers, message_id=asked.pk)

    with pytest.raises(ChatInputError) as refused:
        reply_begin(cat=whiskers, user_message=two)

    assert refused.value.code == "conflict"
    assert not Message.objects.filter(reply_to=two).exists()
    path = Message.objects.filter(conversation_id=asked.conversation_id, kept=True)
    assert list(path.values_list("text", flat=True)) == ["one"]


async def test_the_conversation_is_free_when_chat_done_arrives(alice: Any, whiskers: Cat) -> None:
    # A tab that switches or edits the moment a reply ends must not be told `busy`.
    tab = await open_chat(alice, whiskers)
    for text in ("one", "two", "three"):
        asked, _ = await say(tab, text)
        assert not chat.is_busy(asked["conversation"])
        await tab.send_json_to(edit_frame(asked["id"], text.upper()))
        heard = await receive_until(tab, "chat.done")
        assert [f["type"] for f in heard if f["type"] == "error"] == []
    await tab.disconnect()


def test_searching_conversations_finds_the_edited_text_not_the_old(whiskers: Cat) -> None:
    asked = send(whiskers, "My favourite fish is tuna")
    async_to_sync(learning.drain)()
    send(whiskers, "My favourite fish is salmon", edit_of=asked.pk)
    async_to_sync(learning.drain)()

    # By meaning the conversation may still answer "tuna" (salmon is a fish), but through what
    # it shows: never the version that was edited away.
    for q in ("tuna", "favourite fish is tuna", "salmon"):
        for hit in conversations_search(whiskers, q=q):
            assert hit.message != asked.pk and "tuna" not in hit.snippet, (q, hit)
    # By words alone (as for words said while memory was off: no episodes), the same.
    Episode.objects.filter(profile__cat=whiskers).delete()
    assert conversations_search(whiskers, q="tuna") == []
    (hit,) = conversations_search(whiskers, q="salmon")
    assert hit.conversation.pk == asked.conversation_id and hit.message != asked.pk
