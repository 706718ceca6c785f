"""Attacks on editing a sent message (versions and branches): someone else's data, malformed
frames, races, the shown path's invariant, what the cat learns. A docstring beginning "Was a
defect" says what a user saw before it was fixed (each failed then); the others are attacks
that were refused from the start, kept as regression tests.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.db import connection, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from cats.models import Cat, Message
from cats.services import ChatInputError, message_accept, reply_begin, reply_keep
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from cats.tests.test_consumers import open_chat, receive_until, set_memory
from cats.tests.test_versions import (  # noqa: F401 - the autouse fixture
    _no_reply_outlives_its_test,
    edit_frame,
    say,
    send,
    shown,
)
from memories import learning
from memories.models import Episode, Memory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def whiskers(alice: Any) -> Cat:
    return CatFactory.create(owner=alice, name="Whiskers")


@pytest.fixture
def alice_api(alice: Any) -> APIClient:
    client = APIClient()
    client.force_authenticate(alice)
    return client


@pytest.fixture
def bobs_message(bob: Any) -> Message:
    conversation = ConversationFactory.create(cat=CatFactory.create(owner=bob, name="Rex"))
    return MessageFactory.create(conversation=conversation, text="Woof?")


def path_problem(conversation_id: int) -> str | None:
    """What breaks the shown path's invariant: the kept messages in created order alternate
    user, cat, each cat reply answering the user message just before it (a user message may
    stay unanswered: its reply was refused, `busy`, before it began)."""
    path = list(
        Message.objects.filter(conversation_id=conversation_id, kept=True).order_by(
            "created_at", "id"
        )
    )
    previous: Message | None = None
    for message in path:
        if message.role == Message.Role.CAT:
            if previous is None or previous.role != Message.Role.USER:
                return f"reply {message.pk} (to {message.reply_to_id}) follows no user message"
            if message.reply_to_id != previous.pk:
                return (
                    f"reply {message.pk} answers {message.reply_to_id}, "
                    f"shown after {previous.pk} ({previous.text!r})"
                )
        previous = message
    return None


def active_facts(cat: Cat) -> list[str]:
    return sorted(
        Memory.objects.filter(profile__cat=cat, status=Memory.Status.ACTIVE).values_list(
            "text", flat=True
        )
    )


# --- someone else's data: 404 everywhere -------------------------------------------------------


def test_rest_edit_of_a_huge_id_is_not_a_server_error(alice_api: APIClient, whiskers: Cat) -> None:
    for huge in (2**63, 2**70, 10**30):
        response = alice_api.post(
            reverse("cats_api:chat"),
            {"cat": whiskers.pk, "message": "x", "edit_of": huge},
            format="json",
        )
        assert response.status_code in (400, 404), (huge, response.status_code)


def test_rest_keep_of_a_huge_id_is_404(alice_api: APIClient, whiskers: Cat) -> None:
    response = alice_api.post(f"/api/v1/messages/{10**30}/keep/")
    assert response.status_code == 404


def test_rest_reading_or_keeping_someone_elses_versions_is_404(
    alice_api: APIClient, whiskers: Cat, bobs_message: Message
) -> None:
    bob_cat = bobs_message.conversation.cat
    version = send(bob_cat, "Woof!", edit_of=bobs_message.pk)
    for kept in ("true", "false"):
        listed = alice_api.get(
            reverse("cats_api:message-list", args=[bobs_message.conversation_id]),
            {"kept": kept},
        )
        assert listed.status_code == 404
    for message_id in (bobs_message.pk, version.pk):
        keep = alice_api.post(reverse("cats_api:message-keep", args=[message_id]))
        assert keep.status_code == 404
    assert Message.objects.get(pk=version.pk).kept
    assert not Message.objects.get(pk=bobs_message.pk).kept


async def test_socket_keep_of_someone_elses_version_is_not_found(
    alice: Any, whiskers: Cat, bobs_message: Message
) -> None:
    bob_cat = await database_sync_to_async(lambda: bobs_message.conversation.cat)()
    version = await database_sync_to_async(send)(bob_cat, "Woof!", edit_of=bobs_message.pk)
    tab = await open_chat(alice, whiskers)
    for message_id in (bobs_message.pk, version.pk):
        await tab.send_json_to({"type": "chat.keep", "message_id": message_id})
        error = await tab.receive_json_from()
        assert (error["type"], error["code"]) == ("error", "not_found")
    assert await tab.receive_nothing(timeout=0.2)
    kept = await database_sync_to_async(
        lambda: dict(
            Message.objects.filter(pk__in=[bobs_message.pk, version.pk]).values_list("pk", "kept")
        )
    )()
    assert kept == {bobs_message.pk: False, version.pk: True}
    await tab.disconnect()


async def test_an_edit_naming_another_cats_conversation_of_the_same_user_is_not_found(
    alice: Any, whiskers: Cat
) -> None:
    other_cat = await database_sync_to_async(CatFactory.create)(owner=alice, name="Tom")
    theirs = await database_sync_to_async(send)(other_cat, "hi Tom")
    tab = await open_chat(alice, whiskers)
    await tab.send_json_to(edit_frame(theirs.pk, "hi Whiskers"))
    error = await tab.receive_json_from()
    assert error["code"] == "not_found"
    await tab.disconnect()


# --- malformed frames -----------------------------------------------------------------------


async def test_malformed_edit_of_and_message_id_are_bad_frames(alice: Any, whiskers: Cat) -> None:
    tab = await open_chat(alice, whiskers)
    asked, _ = await say(tab, "one")
    bads = [2**63, 2**64, 10**30, {"id": asked["id"]}, [asked["id"]], "1e3", float(asked["id"])]
    for start in range(0, len(bads), 4):  # 10 protocol errors a minute close the socket
        tab = await open_chat(alice, whiskers)
        for bad in bads[start : start + 4]:
            await tab.send_json_to(edit_frame(bad, "x"))  # type: ignore[arg-type]
            error = await tab.receive_json_from()
            assert (error["type"], error["code"]) == ("error", "bad_frame"), bad
            await tab.send_json_to({"type": "chat.keep", "message_id": bad})
            error = await tab.receive_json_from()
            assert (error["type"], error["code"]) == ("error", "bad_frame"), bad
        await tab.disconnect()
    assert [text for _, text in await shown(asked["conversation"])][0] == "one"
    await tab.disconnect()


# --- what the cat learns --------------------------------------------------------------------


def drain() -> None:
    async_to_sync(learning.drain)()


def test_taking_back_a_message_brings_back_the_fact_it_had_replaced(whiskers: Cat) -> None:
    """Was a defect: A user writes "I live in Lyon.", later "I live in Paris now." (the Paris fact
    supersedes Lyon), then edits that second message into "Hello there." (it was a slip). The
    conversation shown now says only "I live in Lyon.", but the cat remembers no home at all:
    the Paris fact is withdrawn and the Lyon fact it had superseded stays superseded. The
    memories page shows nothing active about where they live; asked "where do I live?" the
    cat says it does not know."""
    lyon = send(whiskers, "I live in Lyon.")
    drain()
    paris = send(whiskers, "I live in Paris now.", lyon.conversation_id)
    drain()
    assert active_facts(whiskers) == ["Lives in Paris"]

    send(whiskers, "Hello there.", lyon.conversation_id, edit_of=paris.pk)
    drain()

    assert active_facts(whiskers) == ["Lives in Lyon"]


def test_a_branch_shown_again_is_learned_again(whiskers: Cat) -> None:
    """Was a defect: "hello", then "I live in Lyon." (learned). The user edits "hello" into "I live
    in Paris." (the Lyon turn is hidden as a branch; Paris supersedes Lyon), then flips back
    with "‹": the page shows "hello" / "I live in Lyon." again, but the cat remembers no home:
    the Paris version's fact is withdrawn, and the branch that came back is not learned again
    (only the version itself is requeued), so Lyon stays superseded by a fact that no longer
    holds."""
    hello = send(whiskers, "hello")
    send(whiskers, "I live in Lyon.", hello.conversation_id)
    drain()
    assert active_facts(whiskers) == ["Lives in Lyon"]
    send(whiskers, "I live in Paris.", hello.conversation_id, edit_of=hello.pk)
    drain()
    assert active_facts(whiskers) == ["Lives in Paris"]

    reply_keep(cat=whiskers, message_id=hello.pk)
    drain()

    assert [t for _, t in async_to_sync(shown)(hello.conversation_id)] == [
        "hello",
        "I live in Lyon.",
    ]
    assert active_facts(whiskers) == ["Lives in Lyon"]


def test_what_was_said_while_memory_was_off_is_never_learned_by_switching_versions(
    whiskers: Cat,
) -> None:
    """Was a defect (privacy): With memory switched off the user says "I live in Lyon." (README:
    "what is said then is never recalled later"). Memory back on, they edit it into "Hello
    there.", then flip back to the first version: `job_requeue` makes a learning job for a
    message that never had one, and the cat now remembers "Lives in Lyon" (it shows on the
    memories page and is recalled)."""
    async_to_sync(set_memory)(whiskers, enabled=False)
    secret = send(whiskers, "I live in Lyon.")
    drain()
    async_to_sync(set_memory)(whiskers, enabled=True)
    whiskers = Cat.objects.get(pk=whiskers.pk)
    send(whiskers, "Hello there.", secret.conversation_id, edit_of=secret.pk)
    drain()

    reply_keep(cat=whiskers, message_id=secret.pk)
    drain()

    assert active_facts(whiskers) == []
    assert not Episode.objects.filter(message=secret).exists()


def test_switching_while_memory_is_off_still_withdraws_the_hidden_versions_facts(
    whiskers: Cat,
) -> None:
    """Memory off: a switch still withdraws what the hidden version taught, and learns
    nothing meanwhile."""
    said = send(whiskers, "I love sushi.")
    drain()
    send(whiskers, "I love pizza.", said.conversation_id, edit_of=said.pk)
    drain()
    async_to_sync(set_memory)(whiskers, enabled=False)
    whiskers = Cat.objects.get(pk=whiskers.pk)
    assert any("pizza" in t.lower() for t in active_facts(whiskers))
    reply_keep(cat=whiskers, message_id=said.pk)
    drain()
    assert active_facts(whiskers) == []


# --- the shown path's invariant under races ---------------------------------------------------


@pytest.mark.parametrize("meanwhile", ["switch", "edit"])
def test_a_switch_or_edit_as_a_reply_begins_never_leaves_the_reply_off_the_path(
    whiskers: Cat, monkeypatch: pytest.MonkeyPatch, meanwhile: str
) -> None:
    """Was a defect (race): Tab A sends "two"; its reply begins (`reply_begin` reads the newest kept
    messages, sees "two" shown, so skips its `kept` check) just as tab B flips "one" back to an
    earlier version (or edits it): "two" is hidden with the branch, yet the reply is created
    `kept=True` answering it. Every tab then shows the cat's answer to "two" under a
    different message, and the next prompt gives the model that stray reply. Interleaving made
    deterministic by running tab B's action from `forget_request`, which `reply_begin` calls
    after reading the path and before its transaction (nothing of reply_begin's is locked)."""
    from cats.services import messages

    one = send(whiskers, "one")
    conversation = one.conversation_id
    MessageFactory.create(
        conversation_id=conversation, role=Message.Role.CAT, reply_to=one, text="Mrow."
    )
    if meanwhile == "switch":
        uno = send(whiskers, "uno", conversation, edit_of=one.pk)
        MessageFactory.create(
            conversation_id=conversation, role=Message.Role.CAT, reply_to=uno, text="Mrrp."
        )
    two = send(whiskers, "two", conversation)
    assert path_problem(conversation) is None
    real = messages.forget_request

    def other_tab_acts(text: str) -> Any:
        if meanwhile == "switch":
            reply_keep(cat=whiskers, message_id=one.pk)
        else:
            send(whiskers, "ONE", conversation, edit_of=one.pk)
        return real(text)

    monkeypatch.setattr(messages, "forget_request", other_tab_acts)
    two = Message.objects.select_related("conversation").get(pk=two.pk)
    try:
        reply_begin(cat=whiskers, user_message=two)
    except ChatInputError as refused:  # a fix may refuse: `conflict`, nothing created
        assert refused.code == "conflict"
    assert path_problem(conversation) is None


def test_keeping_an_alternative_reply_while_an_edit_commits_keeps_the_path_valid(
    whiskers: Cat,
) -> None:
    """Was a defect (race, real concurrency): Tab A flips the reply of "one" to its first
    alternative (`chat.keep` of a cat reply: one UPDATE, no lock on the conversation) while tab
    B's edit of "one" is committing (it holds the conversation's row and has hidden "one" and
    its kept reply). The keep's UPDATE read "one" as shown, so the alternative becomes
    `kept=True` although "one" is hidden: every tab then shows an orphan cat reply above the
    new version "uno", and the model is shown it as the cat's words."""
    one = send(whiskers, "one")
    conversation = one.conversation_id
    first = MessageFactory.create(
        conversation_id=conversation, role=Message.Role.CAT, reply_to=one, text="a", kept=False
    )
    MessageFactory.create(
        conversation_id=conversation, role=Message.Role.CAT, reply_to=one, text="b"
    )
    edited = threading.Event()
    outcome: list[object] = []

    def tab_b_edits() -> None:
        try:
            with transaction.atomic():
                send(whiskers, "uno", conversation, edit_of=one.pk)
                edited.set()
                time.sleep(0.6)  # tab A's keep runs meanwhile, and waits on a row of ours
        finally:
            edited.set()
            connection.close()

    def tab_a_keeps() -> None:
        edited.wait(5)
        try:
            outcome.append(reply_keep(cat=whiskers, message_id=first.pk).pk)
        except ChatInputError as exc:
            outcome.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=tab_b_edits), threading.Thread(target=tab_a_keeps)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert path_problem(conversation) is None, outcome


# --- refused or harmless: regression tests ------------------------------------------------------


async def test_a_double_submitted_edit_makes_one_version(alice: Any, whiskers: Cat) -> None:
    tab = await open_chat(alice, whiskers)
    asked, _ = await say(tab, "one")
    await tab.send_json_to(edit_frame(asked["id"], "uno"))
    await tab.send_json_to(edit_frame(asked["id"], "uno"))  # a second click, another client_id
    heard = await receive_until(tab, "chat.done")
    assert [f["code"] for f in heard if f["type"] == "error"] == ["conflict"], heard
    assert await tab.receive_nothing(timeout=0.3)
    count = await database_sync_to_async(Message.objects.filter(edit_of_id=asked["id"]).count)()
    assert count == 1
    assert await database_sync_to_async(path_problem)(asked["conversation"]) is None
    await tab.disconnect()


def test_an_edit_resent_after_switching_back_changes_nothing(whiskers: Cat) -> None:
    """The edit was saved, another tab flipped back to the first version, then the first tab
    resends the edit (same client_id, after a reconnect): the same message, nothing hidden,
    nothing unlearned."""
    one = send(whiskers, "I love sushi.")
    drain()
    client_id = uuid.uuid4()
    edited = message_accept(
        cat=whiskers,
        text="I love pizza.",
        client_id=client_id,
        conversation_id=None,
        edit_of=one.pk,
    ).message
    drain()
    reply_keep(cat=whiskers, message_id=one.pk)
    drain()
    before = async_to_sync(shown)(one.conversation_id)
    facts = active_facts(whiskers)
    assert any("sushi" in t.lower() for t in facts)

    again = message_accept(
        cat=whiskers,
        text="I love pizza.",
        client_id=client_id,
        conversation_id=None,
        edit_of=one.pk,
    )

    assert (again.message.pk, again.created, again.needs_reply) == (edited.pk, False, True)
    assert async_to_sync(shown)(one.conversation_id) == before
    assert active_facts(whiskers) == facts
    with pytest.raises(ChatInputError) as refused:  # and its reply would not land on the path
        reply_begin(cat=whiskers, user_message=again.message)
    assert refused.value.code == "conflict"


def test_keep_and_edit_inside_a_hidden_branch_are_conflicts(whiskers: Cat) -> None:
    one = send(whiskers, "one")
    conversation = one.conversation_id
    two = send(whiskers, "two", conversation)
    reply = MessageFactory.create(
        conversation_id=conversation, role=Message.Role.CAT, reply_to=two, text="Mrow."
    )
    two_b = send(whiskers, "two b", conversation, edit_of=two.pk)
    three = send(whiskers, "three", conversation)
    send(whiskers, "ONE", conversation, edit_of=one.pk)  # the whole branch of "one" hides
    before = list(Message.objects.filter(conversation_id=conversation).values_list("pk", "kept"))

    for message_id in (two.pk, two_b.pk, reply.pk):
        with pytest.raises(ChatInputError) as refused:
            reply_keep(cat=whiskers, message_id=message_id)
        assert refused.value.code == "conflict", message_id
    for message_id in (two.pk, two_b.pk, three.pk, one.pk):
        with pytest.raises(ChatInputError) as refused:
            send(whiskers, "x", conversation, edit_of=message_id)
        assert refused.value.code == "conflict", message_id
    with pytest.raises(ChatInputError) as refused:
        send(whiskers, "x", conversation, edit_of=reply.pk)
    assert refused.value.code == "bad_frame"
    after = list(Message.objects.filter(conversation_id=conversation).values_list("pk", "kept"))
    assert after == before
    assert path_problem(conversation) is None


def test_keep_of_a_message_that_was_never_edited_is_refused(
    alice_api: APIClient, whiskers: Cat
) -> None:
    one = send(whiskers, "one")
    greeting = MessageFactory.create(
        conversation_id=one.conversation_id, role=Message.Role.CAT, text="Hi!", reply_to=None
    )
    for message_id in (one.pk, greeting.pk):
        with pytest.raises(ChatInputError) as refused:
            reply_keep(cat=whiskers, message_id=message_id)
        assert refused.value.code == "bad_frame"
        response = alice_api.post(reverse("cats_api:message-keep", args=[message_id]))
        assert response.status_code == 400


def test_a_long_sequence_of_edits_switches_and_sends_keeps_the_path_valid(whiskers: Cat) -> None:
    """Edits at every depth, switches back and forth, regenerated replies, new turns on each
    branch: after every step the shown path alternates and each reply answers the message
    just before it."""
    from cats.services.messages import regenerate_target

    def turn(text: str, conversation: int | None, **kw: Any) -> Message:
        asked = send(whiskers, text, conversation, **kw)
        MessageFactory.create(
            conversation_id=asked.conversation_id,
            role=Message.Role.CAT,
            reply_to=asked,
            text=f"re {text}",
        )
        assert path_problem(asked.conversation_id) is None, text
        return asked

    def regenerate(conversation: int) -> None:
        target = regenerate_target(cat=whiskers, conversation_id=conversation)
        Message.objects.filter(reply_to=target, kept=True).update(kept=False)
        MessageFactory.create(
            conversation_id=conversation, role=Message.Role.CAT, reply_to=target, text="again"
        )
        assert path_problem(conversation) is None

    def flip(message: Message) -> None:
        reply_keep(cat=whiskers, message_id=message.pk)
        assert path_problem(message.conversation_id) is None, message.text

    one = turn("one", None)
    c = one.conversation_id
    two = turn("two", c)
    three = turn("three", c)
    two_b = turn("two b", c, edit_of=two.pk)
    regenerate(c)
    four = turn("four", c)
    flip(two)
    turn("four on two", c)
    one_b = turn("one b", c, edit_of=one.pk)
    flip(one)
    flip(two_b)
    three_b = turn("three b", c, edit_of=four.pk)
    flip(one_b)
    flip(one)
    flip(two)
    flip(two_b)
    assert Message.objects.get(pk=three_b.pk).kept
    assert not Message.objects.get(pk=three.pk).kept


def test_an_edit_while_its_episode_is_being_embedded_leaves_no_episode_of_the_old_text(
    whiskers: Cat, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was a defect (race): Right after a reply the learning worker embeds the message's episode
    (outside any lock) and then inserts it without looking again at its job. An edit (or a
    switch) that lands while the passage is embedded withdraws the message (no episode yet,
    its job marked done), and then the worker inserts the episode anyway: the edited-away text
    is recalled later ("On 4 December you said: ...") and found by conversation search."""
    from catchat import embeddings

    one = send(whiskers, "My favourite fish is tuna.")
    real = embeddings.embed_passages
    done: list[int] = []

    async def edit_meanwhile(texts: list[str]) -> list[list[float]]:
        vectors = await real(texts)
        if not done:
            done.append(1)
            await database_sync_to_async(send)(
                whiskers, "My favourite fish is salmon.", one.conversation_id, edit_of=one.pk
            )
        return vectors

    monkeypatch.setattr(embeddings, "embed_passages", edit_meanwhile)
    drain()

    assert not Episode.objects.filter(message=one).exists()


def test_flipping_back_does_not_undo_a_forget_it(whiskers: Cat) -> None:
    """Was a defect: "I live in Lyon." then "forget it" (the cat forgets it and says so). Later the
    user edits "I live in Lyon." (say into "hello") and flips back with "‹": the page shows
    "I live in Lyon." / "forget it" again, but the cat has learned "Lives in Lyon" again,
    `job_requeue` relearning the message the human asked to forget (a bare "forget it" is
    carried out in the turn only; learning does not know of it)."""
    lyon = send(whiskers, "I live in Lyon.")
    conversation = lyon.conversation_id
    reply_begin(cat=whiskers, user_message=Message.objects.get(pk=lyon.pk))
    Message.objects.filter(reply_to=lyon).update(status=Message.Status.COMPLETE)
    drain()
    assert active_facts(whiskers) == ["Lives in Lyon"]
    forget = send(whiskers, "forget it", conversation)
    reply_begin(cat=whiskers, user_message=Message.objects.get(pk=forget.pk))
    Message.objects.filter(reply_to=forget).update(status=Message.Status.COMPLETE)
    drain()
    assert active_facts(whiskers) == []

    send(whiskers, "hello", conversation, edit_of=lyon.pk)
    drain()
    reply_keep(cat=whiskers, message_id=lyon.pk)
    drain()

    assert [t for _, t in async_to_sync(shown)(conversation)][::2] == [
        "I live in Lyon.",
        "forget it",
    ]
    assert active_facts(whiskers) == []
    assert not Episode.objects.filter(message=lyon).exists()


# --- the page -----------------------------------------------------------------------------------

MARKUP = """"'><img src=x onerror="window.pwned=1"></article><script>window.pwned=2</script>&amp;"""


def test_markup_in_versions_stays_text_in_the_switcher_attribute(
    client: Any, alice: Any, whiskers: Cat
) -> None:
    """Every version's text goes into `data-versions` (JSON in an attribute): escaped, it
    parses back to exactly what was written, and no element comes out of it."""
    from html.parser import HTMLParser

    one = send(whiskers, MARKUP)
    send(whiskers, MARKUP + " 2", one.conversation_id, edit_of=one.pk)
    client.force_login(alice)
    page = client.get(
        reverse("cats:chat", args=[whiskers.pk]), {"conversation": one.conversation_id}
    )
    assert page.status_code == 200

    found: list[str] = []
    tags: list[str] = []

    class Reader(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            tags.append(tag)
            found.extend(v or "" for k, v in attrs if k == "data-versions")

    Reader().feed(page.content.decode())
    (versions,) = found
    assert [v["text"] for v in json.loads(versions)] == [MARKUP, MARKUP + " 2"]
    assert "img" not in tags


def test_rest_edits_of_a_cat_reply_or_a_hidden_turn_are_refused(
    alice_api: APIClient, whiskers: Cat
) -> None:
    one = send(whiskers, "one")
    reply = MessageFactory.create(
        conversation_id=one.conversation_id, role=Message.Role.CAT, reply_to=one, text="Mrow."
    )
    two = send(whiskers, "two", one.conversation_id)
    send(whiskers, "uno", one.conversation_id, edit_of=one.pk)
    before = list(Message.objects.values_list("pk", "kept"))
    for message_id, status in ((reply.pk, 400), (two.pk, 409), (one.pk, 409)):
        response = alice_api.post(
            reverse("cats_api:chat"),
            {"cat": whiskers.pk, "message": "x", "edit_of": message_id},
            format="json",
        )
        assert response.status_code == status, (message_id, response.content)
    assert list(Message.objects.values_list("pk", "kept")) == before


def test_a_client_id_reused_for_an_edit_of_another_message_changes_nothing(
    whiskers: Cat,
) -> None:
    one = send(whiskers, "one")
    two = send(whiskers, "two", one.conversation_id)
    client_id = uuid.uuid4()
    first = message_accept(
        cat=whiskers, text="TWO", client_id=client_id, conversation_id=None, edit_of=two.pk
    ).message
    before = list(Message.objects.order_by("pk").values_list("pk", "kept", "branch_of_id"))

    again = message_accept(
        cat=whiskers, text="ONE", client_id=client_id, conversation_id=None, edit_of=one.pk
    )

    assert (again.message.pk, again.created) == (first.pk, False)
    assert list(Message.objects.order_by("pk").values_list("pk", "kept", "branch_of_id")) == before


def test_a_late_resend_of_an_unanswered_message_does_not_answer_it_at_the_end(
    whiskers: Cat,
) -> None:
    """Was a defect (older than edits, but it breaks the same invariant): "one" is saved but its
    reply is refused (`busy`: another process was answering there); the REST client will retry
    it. Meanwhile the human says "two" in a tab and gets its answer. Then the client retries
    "one" (same client_id): `needs_reply` is true, so a reply to "one" is created at the end,
    after "two"'s reply: the page shows the cat answering "one" below "two", and the next
    prompt has two cat turns in a row. Such a late reply should be refused (`conflict`) or the
    resend answered with nothing new."""
    client_id = uuid.uuid4()
    one = message_accept(
        cat=whiskers, text="one", client_id=client_id, conversation_id=None
    ).message
    two = send(whiskers, "two", one.conversation_id)
    MessageFactory.create(
        conversation_id=one.conversation_id, role=Message.Role.CAT, reply_to=two, text="re two"
    )

    again = message_accept(
        cat=whiskers, text="one", client_id=client_id, conversation_id=one.conversation_id
    )
    assert again.message.pk == one.pk
    if again.needs_reply:
        try:
            reply_begin(
                cat=whiskers,
                user_message=Message.objects.select_related("conversation").get(pk=one.pk),
            )
        except ChatInputError as refused:
            assert refused.code == "conflict"
    assert path_problem(one.conversation_id) is None


def test_the_title_follows_the_version_shown_back_too(whiskers: Cat) -> None:
    """Was a defect (small): A title made from the first message follows an edit of it ("one" ->
    "uno"), but not a flip back: the conversation list keeps saying "uno" while the
    conversation shows "one" again."""
    from cats.models import Conversation

    one = send(whiskers, "one")
    send(whiskers, "uno", one.conversation_id, edit_of=one.pk)
    assert Conversation.objects.get(pk=one.conversation_id).title == "uno"

    reply_keep(cat=whiskers, message_id=one.pk)

    assert Conversation.objects.get(pk=one.conversation_id).title == "one"


async def test_stop_then_edit_at_once_is_busy_or_clean_and_an_edit_after_done_goes(
    alice: Any, whiskers: Cat, mistral: Any
) -> None:
    from catchat.testing.fake_mistral import Reply

    tab = await open_chat(alice, whiskers)
    mistral.script(Reply("First."))
    asked, _ = await say(tab, "one")
    hold = threading.Event()
    mistral.script(Reply(["Once", " upon", " a", " time"], hold=hold), Reply("Uno!"))
    await tab.send_json_to(
        {
            "type": "chat.send",
            "text": "two",
            "client_id": str(uuid.uuid4()),
            "conversation": asked["conversation"],
        }
    )
    await receive_until(tab, "chat.delta")
    await tab.send_json_to({"type": "chat.stop", "conversation": asked["conversation"]})
    frame = edit_frame(asked["id"], "uno")
    await tab.send_json_to(frame)
    heard = await receive_until(tab, "chat.done")
    hold.set()
    assert heard[-1]["message"]["status"] == "stopped"
    errors = [f for f in heard if f["type"] == "error"]
    if errors:
        assert [e["code"] for e in errors] == ["busy"]
        assert errors[0]["client_id"] == frame["client_id"]
        await tab.send_json_to(frame)  # the page would let the user save again
    heard = await receive_until(tab, "chat.done")
    assert heard[-1]["message"]["text"] == "Uno!"
    texts = [t for _, t in await shown(asked["conversation"])]
    assert texts == ["uno", "Uno!"]
    assert await database_sync_to_async(path_problem)(asked["conversation"]) is None
    await tab.disconnect()


@pytest.mark.parametrize("names_conversation", [True, False], ids=["page", "bare"])
async def test_an_edit_right_after_a_regenerate_is_refused_or_answered(
    alice: Any, whiskers: Cat, names_conversation: bool
) -> None:
    """ "page": the page names the conversation, and the edit is refused `busy` at once.
    Was a defect for "bare": `conversation` is optional with `edit_of` (the message names it), so a
    client that leaves it out skips this process's fast busy check (`is_busy(None)`): the edit
    is saved (the old turn hidden, "uno" shown), then its own reply is refused `busy` (the
    regenerate holds the conversation in this process) and the regenerate's reply is refused
    `conflict` (its message is hidden now). The conversation ends on "uno" with no reply, and
    the sender hears `chat.accepted` then `busy` (over REST: a 409 for a message that was
    saved)."""
    tab = await open_chat(alice, whiskers)
    asked, _ = await say(tab, "one")
    conversation = asked["conversation"]
    await tab.send_json_to({"type": "chat.regenerate", "conversation": conversation})
    frame = edit_frame(asked["id"], "uno")
    if names_conversation:
        frame["conversation"] = conversation
    await tab.send_json_to(frame)
    heard = []
    while not await tab.receive_nothing(timeout=2):
        heard.append(await tab.receive_json_from())

    assert await database_sync_to_async(path_problem)(conversation) is None
    path = await shown(conversation)
    assert path[-1][0] == "cat", (path, [(f["type"], f.get("code")) for f in heard])
    await tab.disconnect()
