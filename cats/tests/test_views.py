"""The server-rendered cat pages: adopting, listing, and the chat page's history."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from accounts.models import User
from cats.models import Cat, Conversation, Message
from cats.services.cats import memory_profile
from cats.tests.factories import CatFactory, ConversationFactory, MessageFactory
from cats.views import _snippet
from memories.episodes import Context, episode
from memories.models import Episode, MemoryHistory
from memories.services import memory_create, memory_reject

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_client(client: Client, alice: User) -> Client:
    client.force_login(alice)
    return client


def test_the_cat_pages_need_a_login(client: Client, alice: User) -> None:
    cat = CatFactory.create(owner=alice)

    for url in (reverse("cats:list"), reverse("cats:chat", args=[cat.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_the_home_page_leads_to_my_cats(alice_client: Client) -> None:
    # A visitor gets the landing page instead (cats/tests/test_landing.py).
    response = alice_client.get("/")

    assert response.status_code == 302
    assert response["Location"] == reverse("cats:list")


def test_adopting_a_cat_opens_its_chat(alice_client: Client, alice: User) -> None:
    response = alice_client.post(
        reverse("cats:list"),
        {"name": "  Whiskers ", "personality": "shy, curious", "coat": "ginger"},
    )

    cat = Cat.objects.get(owner=alice)
    assert (cat.name, cat.personality, cat.coat) == ("Whiskers", "shy, curious", "ginger")
    assert response.status_code == 302
    assert response["Location"] == reverse("cats:chat", args=[cat.pk])


def test_adopting_needs_a_name_of_at_most_40_characters(alice_client: Client, alice: User) -> None:
    for name in ("", "x" * 41):
        response = alice_client.post(reverse("cats:list"), {"name": name})
        assert response.status_code == 200
        assert response.context["form"].errors["name"]
    assert not Cat.objects.filter(owner=alice).exists()


def test_the_adopt_form_suggests_common_coat_colours(alice_client: Client) -> None:
    html = alice_client.get(reverse("cats:list")).content.decode()

    assert 'list="coat-colours"' in html
    assert '<datalist id="coat-colours">' in html
    assert '<option value="tortoiseshell">' in html


def test_the_list_shows_only_my_cats(alice_client: Client, alice: User, bob: User) -> None:
    CatFactory.create(owner=alice, name="Whiskers")
    CatFactory.create(owner=bob, name="Bobcat")

    response = alice_client.get(reverse("cats:list"))

    assert [cat.name for cat in response.context["cats"]] == ["Whiskers"]
    assert "Bobcat" not in response.content.decode()


def test_another_users_chat_page_is_a_404(alice_client: Client, bob: User) -> None:
    bobs_cat = CatFactory.create(owner=bob)

    assert alice_client.get(reverse("cats:chat", args=[bobs_cat.pk])).status_code == 404
    assert alice_client.get(reverse("cats:chat", args=[999_999])).status_code == 404


def _conversation_id(whose: str, alice: User, bob: User) -> str:
    if whose == "my other cat":
        return str(ConversationFactory.create(cat=CatFactory.create(owner=alice)).pk)
    if whose == "bob's cat":
        return str(ConversationFactory.create(cat=CatFactory.create(owner=bob)).pk)
    return {"nobody's": "999999", "not a number": "1;drop"}[whose]


@pytest.mark.parametrize("whose", ["my other cat", "bob's cat", "nobody's", "not a number"])
def test_a_conversation_that_is_not_this_cats_is_a_404(
    alice_client: Client, alice: User, bob: User, whose: str
) -> None:
    cat = CatFactory.create(owner=alice)
    ConversationFactory.create(cat=cat)  # it has conversations; just not that one

    response = alice_client.get(
        reverse("cats:chat", args=[cat.pk]), {"conversation": _conversation_id(whose, alice, bob)}
    )

    assert response.status_code == 404


def test_the_chat_page_opens_the_most_recent_conversation(
    alice_client: Client, alice: User
) -> None:
    cat = CatFactory.create(owner=alice, name="Whiskers")
    older = ConversationFactory.create(cat=cat, title="Older")
    newer = ConversationFactory.create(cat=cat, title="Newer")
    MessageFactory.create(conversation=older, text="from the old chat")
    MessageFactory.create(conversation=newer, text="from the new chat")

    response = alice_client.get(reverse("cats:chat", args=[cat.pk]))

    assert response.context["conversation"] == newer
    assert [c.title for c in response.context["conversations"]] == ["Newer", "Older"]
    html = response.content.decode()
    assert "from the new chat" in html
    assert "from the old chat" not in html

    chosen = alice_client.get(reverse("cats:chat", args=[cat.pk]), {"conversation": older.pk})
    assert chosen.context["conversation"] == older
    assert "from the old chat" in chosen.content.decode()

    fresh = alice_client.get(reverse("cats:chat", args=[cat.pk]), {"new": "1"})
    assert fresh.context["conversation"] is None
    assert fresh.context["history"] == []
    assert fresh.context["chat_config"]["conversation"] is None


def test_history_renders_each_message_with_its_role_and_status(
    alice_client: Client, alice: User
) -> None:
    conversation = ConversationFactory.create(cat=CatFactory.create(owner=alice))
    question = MessageFactory.create(conversation=conversation, text="Are you hungry?")
    answer = MessageFactory.create(
        conversation=conversation,
        role=Message.Role.CAT,
        text="Mrrp! Always.",
        status=Message.Status.STOPPED,
        reply_to=question,
    )

    html = alice_client.get(reverse("cats:chat", args=[conversation.cat_id])).content.decode()

    assert f'data-message-id="{question.pk}" data-role="user" data-status="complete"' in html
    assert f'data-message-id="{answer.pk}" data-role="cat" data-status="stopped"' in html
    assert "(stopped)" in html
    assert 'role="log" aria-live="polite"' in html


def test_user_text_is_escaped_in_the_history(alice_client: Client, alice: User) -> None:
    conversation = ConversationFactory.create(cat=CatFactory.create(owner=alice))
    MessageFactory.create(conversation=conversation, text="<script>alert('meow')</script>")

    html = alice_client.get(reverse("cats:chat", args=[conversation.cat_id])).content.decode()

    assert "<script>alert('meow')</script>" not in html
    assert "&lt;script&gt;alert(&#x27;meow&#x27;)&lt;/script&gt;" in html


def test_the_chat_config_cannot_be_broken_out_of_by_a_cat_name(
    alice_client: Client, alice: User
) -> None:
    cat = CatFactory.create(owner=alice, name="</script><b>x")

    html = alice_client.get(reverse("cats:chat", args=[cat.pk])).content.decode()

    assert "</script><b>x" not in html


def test_the_offline_banner_shows_without_a_mistral_key(
    alice_client: Client, alice: User, settings: object
) -> None:
    cat = CatFactory.create(owner=alice, name="Whiskers")
    url = reverse("cats:chat", args=[cat.pk])

    settings.MISTRAL_API_KEY = ""  # type: ignore[attr-defined]
    offline = alice_client.get(url).content.decode()
    settings.MISTRAL_API_KEY = "a-key"  # type: ignore[attr-defined]
    online = alice_client.get(url).content.decode()

    assert 'id="offline-banner" role="status">' in offline
    assert "Whiskers is running on its offline brain" in offline
    assert "no MISTRAL_API_KEY is set" in offline
    assert 'id="offline-banner" role="status" hidden>' in online


def _chat_with(cat: Cat, conversations: int, messages: int) -> None:
    memories = [memory_create(profile=memory_profile(cat), text=f"Fact {i}").pk for i in range(3)]
    for _ in range(conversations):
        conversation = ConversationFactory.create(cat=cat)
        # Cat replies that were each given memories: their receipts come in one query.
        MessageFactory.create_batch(
            messages, conversation=conversation, role=Message.Role.CAT, memories_used=memories
        )


@pytest.mark.parametrize("size", [3, 30])
def test_the_chat_page_runs_the_same_queries_whatever_the_history(
    alice_client: Client,
    alice: User,
    django_assert_num_queries: DjangoAssertNumQueries,
    size: int,
) -> None:
    cat = CatFactory.create(owner=alice)
    _chat_with(cat, conversations=size, messages=size)
    url = reverse("cats:chat", args=[cat.pk])

    # session, user, cat, conversations, messages, the receipts' memories, the other cats (the
    # header's switcher) (no query per conversation, message or memory)
    with django_assert_num_queries(7):
        default = alice_client.get(url)
    # ... plus the one conversation asked for
    chosen = cat.conversations.order_by("id").first()
    assert chosen is not None
    with django_assert_num_queries(8):
        alice_client.get(url, {"conversation": chosen.pk})

    assert len(default.context["conversations"]) == size
    assert len(default.context["history"]) == size
    assert default.content.decode().count('class="memory-receipt"') == 3 * size


def _turns_with_alternatives(cat: Cat, turns: int) -> None:
    """`turns` user messages, each with three replies of which the second is kept."""
    conversation = ConversationFactory.create(cat=cat)
    memory = memory_create(profile=memory_profile(cat), text="Naps a lot").pk
    for i in range(turns):
        asked = MessageFactory.create(conversation=conversation, text=f"question {i}")
        for j in range(3):
            MessageFactory.create(
                conversation=conversation,
                role=Message.Role.CAT,
                reply_to=asked,
                text=f"answer {i}.{j}",
                kept=j == 1,
                memories_used=[memory] if j == 2 else [],
            )


@pytest.mark.parametrize("turns", [2, 20])
def test_the_chat_page_shows_kept_replies_with_a_switcher_in_the_same_queries(
    alice_client: Client,
    alice: User,
    django_assert_num_queries: DjangoAssertNumQueries,
    turns: int,
) -> None:
    cat = CatFactory.create(owner=alice)
    _turns_with_alternatives(cat, turns)

    # session, user, cat, conversations, kept messages, all the replies to the messages shown,
    # the versions of the human's messages shown (edits: cats.services.versions.versions_of),
    # the receipts' memories (of every alternative), the other cats
    with django_assert_num_queries(9):
        response = alice_client.get(reverse("cats:chat", args=[cat.pk]))

    shown = [m.text for m in response.context["history"]]
    assert shown == [t for i in range(turns) for t in (f"question {i}", f"answer {i}.1")]
    html = response.content.decode()
    assert html.count('class="message__switcher"') == turns
    assert html.count('<span class="message__switcher-count">2 / 3</span>') == turns
    assert html.count('aria-label="Previous reply">') == turns
    assert html.count('aria-label="Next reply">') == turns
    assert "answer 0.0" in html  # the alternatives travel with the page, for the switcher
    _, _, _, switch = response.context["log"][1]
    alternatives = json.loads(switch["data"])
    assert [a["text"] for a in alternatives] == ["answer 0.0", "answer 0.1", "answer 0.2"]
    assert alternatives[2]["receipts"] == [[alternatives[2]["memories_used"][0], "Naps a lot"]]


def test_a_reply_without_alternatives_has_no_switcher(alice_client: Client, alice: User) -> None:
    cat = CatFactory.create(owner=alice)
    conversation = ConversationFactory.create(cat=cat)
    asked = MessageFactory.create(conversation=conversation, text="hi")
    MessageFactory.create(conversation=conversation, role=Message.Role.CAT, reply_to=asked)

    html = alice_client.get(reverse("cats:chat", args=[cat.pk])).content.decode()

    assert f'data-reply-to="{asked.pk}"' in html
    assert "message__switcher" not in html and "data-alternatives" not in html


def test_a_reply_shows_receipts_of_the_memories_it_was_given_but_not_forgotten_ones(
    alice_client: Client, alice: User, bob: User
) -> None:
    cat = CatFactory.create(owner=alice, name="Whiskers")
    profile = memory_profile(cat)
    sushi = memory_create(profile=profile, text="Loves <b>sushi</b>")
    lyon = memory_create(profile=profile, text="Lives in Lyon")
    memory_reject(memory=lyon, actor=MemoryHistory.Actor.USER, actor_user=alice)
    bobs = memory_create(profile=memory_profile(CatFactory.create(owner=bob)), text="Bob's secret")
    conversation = ConversationFactory.create(cat=cat)
    MessageFactory.create(conversation=conversation, text="What should I cook?")
    reply = MessageFactory.create(
        conversation=conversation,
        role=Message.Role.CAT,
        text="Sushi!",
        memories_used=[sushi.pk, lyon.pk, bobs.pk],
    )

    html = alice_client.get(reverse("cats:chat", args=[cat.pk])).content.decode()

    article = re.search(rf'<article [^>]*id="message-{reply.pk}".*?</article>', html, re.S)
    assert article
    receipts = re.findall(r'<a class="memory-receipt" href="([^"]+)"[^>]*>([^<]*)</a>', article[0])
    page = reverse("memories:page", args=[cat.pk])
    assert receipts == [(f"{page}?status=all#memory-{sushi.pk}", "Loves &lt;b&gt;sushi&lt;/b&gt;")]
    assert f'data-memories="{sushi.pk}"' in article[0]
    assert "Lyon" not in html and "secret" not in html


def _said(conversation: Conversation, text: str, at: datetime) -> Message:
    """A message of the human's, recorded as an episode as a chat turn records it."""
    message = MessageFactory.create(conversation=conversation, text=text)
    Message.objects.filter(pk=message.pk).update(created_at=at)
    message.refresh_from_db()
    episode(memory_profile(conversation.cat), Context(message), None, "").save()
    return message


def _episode_receipts(html: str, reply: Message) -> list[tuple[str, str, str, str]]:
    """Each episode receipt under `reply`: (href, title, datetime, what the link reads as)."""
    article = re.search(rf'<article [^>]*id="message-{reply.pk}".*?</article>', html, re.S)
    assert article
    links = re.findall(
        r'<a class="episode-receipt" href="([^"]+)"[^>]*title="([^"]*)">(.*?)</a>', article[0]
    )
    receipts = []
    for href, title, inner in links:
        time = re.search(r'<time datetime="([^"]+)">', inner)
        assert time
        receipts.append((href, title, time[1], re.sub(r"<[^>]+>", "", inner)))
    return receipts


def test_a_reply_shows_receipts_of_what_the_human_said_before_linked_to_where(
    alice_client: Client, alice: User
) -> None:
    cat = CatFactory.create(owner=alice, name="Whiskers")
    back_then = ConversationFactory.create(cat=cat)
    said_at = datetime(2023, 5, 8, 14, 30, tzinfo=UTC)
    long_ago = _said(
        back_then,
        "I went to a support group yesterday and it helped more than I expected, honestly",
        said_at,
    )
    gone = ConversationFactory.create(cat=cat)
    deleted = _said(gone, "Something from a conversation I deleted", said_at)
    gone.delete()  # its messages and their episodes go with it
    forgotten = _said(back_then, "Something the cat was told to forget", said_at)
    Episode.objects.filter(message=forgotten).delete()
    today = ConversationFactory.create(cat=cat)
    MessageFactory.create(conversation=today, text="I feel better")
    reply = MessageFactory.create(
        conversation=today,
        role=Message.Role.CAT,
        text="Like the support group?",
        episodes_used=[long_ago.pk, deleted.pk, forgotten.pk],
    )

    html = alice_client.get(
        reverse("cats:chat", args=[cat.pk]), {"conversation": today.pk}
    ).content.decode()

    chat = reverse("cats:chat", args=[cat.pk])
    assert _episode_receipts(html, reply) == [
        (
            f"{chat}?conversation={back_then.pk}#message-{long_ago.pk}",
            long_ago.text,
            said_at.isoformat(),
            "You said on 8 May 2023: “I went to a support group yesterday and it helped more…”",
        )
    ]
    assert f'data-episodes="{long_ago.pk}"' in html
    assert "Remembered" in html
    assert "deleted" not in html and "forget" not in html
    # The link leads to that message, in that conversation.
    linked = alice_client.get(chat, {"conversation": back_then.pk}).content.decode()
    assert f'id="message-{long_ago.pk}"' in linked


def test_an_episode_receipt_escapes_what_the_human_said(alice_client: Client, alice: User) -> None:
    cat = CatFactory.create(owner=alice)
    conversation = ConversationFactory.create(cat=cat)
    said = _said(conversation, '<script>alert("meow")</script> "quoted"', timezone.now())
    MessageFactory.create(
        conversation=conversation, role=Message.Role.CAT, text="Hm", episodes_used=[said.pk]
    )

    html = alice_client.get(reverse("cats:chat", args=[cat.pk])).content.decode()

    assert "<script>alert" not in html
    assert 'title="&lt;script&gt;alert(&quot;meow&quot;)&lt;/script&gt; &quot;quoted&quot;"' in html
    assert (
        '“<span class="episode-receipt__text">&lt;script&gt;alert(&quot;meow&quot;)'
        "&lt;/script&gt; &quot;quoted&quot;</span>”"
    ) in html


@pytest.mark.parametrize("replies", [2, 20])
def test_episode_receipts_take_one_query_whatever_the_number_of_replies(
    alice_client: Client,
    alice: User,
    django_assert_num_queries: DjangoAssertNumQueries,
    replies: int,
) -> None:
    cat = CatFactory.create(owner=alice)
    fact = memory_create(profile=memory_profile(cat), text="Naps a lot").pk
    earlier = ConversationFactory.create(cat=cat)
    said = [_said(earlier, f"Earlier words {i}", timezone.now()).pk for i in range(3)]
    conversation = ConversationFactory.create(cat=cat)
    for i in range(replies):
        asked = MessageFactory.create(conversation=conversation, text=f"question {i}")
        for j in range(2):  # regenerated: the alternative's episodes travel with the page too
            MessageFactory.create(
                conversation=conversation,
                role=Message.Role.CAT,
                reply_to=asked,
                kept=j == 1,
                memories_used=[fact],
                episodes_used=said[j:],
            )

    # session, user, cat, conversations, kept messages, their alternatives, the versions of
    # the human's messages (edits), the receipts' memories, the receipts' episodes, the other
    # cats (no query per reply or episode)
    with django_assert_num_queries(10):
        response = alice_client.get(reverse("cats:chat", args=[cat.pk]))

    html = response.content.decode()
    assert html.count('class="episode-receipt"') == 2 * replies
    _, _, _, switch = response.context["log"][1]
    first, kept = json.loads(switch["data"])
    assert first["episodes_used"] == said
    assert [e["text"] for e in first["episodes"]] == [
        "Earlier words 0",
        "Earlier words 1",
        "Earlier words 2",
    ]
    assert kept["episodes"][0]["conversation"] == earlier.pk
    assert kept["episodes"][0]["at"] == Message.objects.get(pk=said[1]).created_at.isoformat()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Short and sweet", "Short and sweet"),
        ("  spread\n over\tlines  ", "spread over lines"),
        ("x" * 60, "x" * 60),
        ("word " * 20, "word word word word word word word word word word word…"),
        ("y" * 80, "y" * 59 + "…"),
        (
            "One, two, three, four, five, six, seven, eight, nine, ten, eleven",
            "One, two, three, four, five, six, seven, eight, nine, ten…",
        ),
    ],
)
def test_an_episode_is_quoted_in_a_snippet_cut_at_a_word(text: str, shown: str) -> None:
    assert _snippet(text) == shown


def _meter(html: str, vital: str) -> dict[str, str]:
    """The attributes of the page's <meter> for one vital."""
    match = re.search(rf'<meter [^>]*id="meter-{vital}"[^>]*>', html)
    assert match, f"no meter for {vital}"
    return dict(re.findall(r'([\w-]+)="([^"]*)"', match.group(0)))


def test_the_chat_page_shows_the_vitals_as_meters_and_the_mood_in_words(
    alice_client: Client, alice: User
) -> None:
    cat = CatFactory.create(
        owner=alice,
        name="Whiskers",
        coat="orange tabby",
        hunger=85,
        energy=70,
        affection=60,
        fun=55,
        vitals_at=timezone.now(),
        mood="hungry",
    )

    response = alice_client.get(reverse("cats:chat", args=[cat.pk]))
    html = response.content.decode()

    hunger = _meter(html, "hunger")
    assert hunger["value"] == "85"
    assert (hunger["min"], hunger["max"], hunger["optimum"]) == ("0", "100", "0")  # high = bad
    assert hunger["aria-label"] == "Hunger 85 of 100, 0 is full, 100 is starving"
    assert _meter(html, "energy")["aria-label"] == "Energy 70 of 100"
    assert _meter(html, "affection")["value"] == "60"
    assert _meter(html, "fun")["value"] == "55"
    assert _meter(html, "fun")["optimum"] == "100"
    assert "<span>full</span><span>starving</span>" in html
    assert '<h2 class="vitals__mood" id="mood-text">Whiskers is hungry</h2>' in html
    assert 'data-mood="hungry" data-asleep="false" data-coat="ginger" data-pattern="tabby"' in html
    assert 'role="img" aria-label="Whiskers looks hungry"' in html
    assert 'id="sleep-note" hidden' in html
    for action, name in [
        ("feed", "Feed Whiskers"),
        ("play", "Play with Whiskers"),
        ("pet", "Pet Whiskers"),
        ("sleep", "Sleep: put Whiskers down for a nap"),
    ]:
        # Real buttons, named for what they do; enabled by the script once connected.
        visible = name.split(" ")[0].rstrip(":")
        assert re.search(
            rf'<button type="button" [^>]*data-action="{action}" aria-label="{name}" disabled>'
            rf"<svg [^>]*aria-hidden=\"true\"[^>]*>.*?</svg>{visible}</button>",
            html,
        )
    assert 'id="care-status" role="status"' in html
    # The page's script starts from the same state, and knows the words for each mood.
    config = response.context["chat_config"]
    assert config["state"]["hunger"] == 85
    assert config["state"]["mood"] == "hungry"
    assert config["moods"]["hungry"]


def test_a_sleeping_cat_shows_until_when_it_sleeps(alice_client: Client, alice: User) -> None:
    now = timezone.now()
    wakes = now + timedelta(hours=1)
    cat = CatFactory.create(
        owner=alice, name="Whiskers", coat="", energy=30, vitals_at=now, asleep_until=wakes
    )

    html = alice_client.get(reverse("cats:chat", args=[cat.pk])).content.decode()

    assert '<h2 class="vitals__mood" id="mood-text">Whiskers is asleep</h2>' in html
    assert 'data-asleep="true" data-coat="neutral" data-pattern="solid"' in html
    assert 'aria-label="Whiskers is asleep"' in html
    assert 'id="sleep-note" hidden' not in html
    assert f'datetime="{wakes.isoformat()}">{wakes:%H:%M}</time>' in html
