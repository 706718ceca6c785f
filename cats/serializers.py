"""REST shapes for cats (PRODUCT.md "Shapes"): what goes in, what comes out. No rules here:
the services decide; these only check input types and render output."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cats.models import CareEvent, Cat, Conversation, Message
from cats.services import ImportSession, ImportTurn, cat_state
from cats.services.imports import MAX_ID_CHARS, MAX_TURNS
from cats.vitals import MOODS

_CAT_NAME = Cat._meta.get_field("name").max_length
_CAT_PERSONALITY = Cat._meta.get_field("personality").max_length
_CAT_COAT = Cat._meta.get_field("coat").max_length
_TITLE = Conversation._meta.get_field("title").max_length


class CatStateSerializer(serializers.Serializer):
    """A cat's vitals and mood right now, as `cats.services.cat_state` computes them."""

    hunger = serializers.IntegerField(min_value=0, max_value=100, help_text="100 is starving.")
    energy = serializers.IntegerField(min_value=0, max_value=100)
    affection = serializers.IntegerField(min_value=0, max_value=100)
    fun = serializers.IntegerField(min_value=0, max_value=100)
    mood = serializers.ChoiceField(choices=MOODS)
    asleep = serializers.BooleanField()
    asleep_until = serializers.DateTimeField(allow_null=True)
    needs = serializers.ListField(
        child=serializers.CharField(), help_text="Urgent needs, most pressing first."
    )
    updated_at = serializers.DateTimeField(help_text="The moment these values were computed.")


class CareActionSerializer(serializers.Serializer):
    """Input of `POST cats/{id}/actions/`."""

    action = serializers.ChoiceField(choices=CareEvent.Action.choices)


class CareResultSerializer(serializers.Serializer):
    """What a care action did: accepted or refused (with `reason`), in the cat's own words."""

    accepted = serializers.BooleanField()
    reason = serializers.CharField(
        allow_blank=True, help_text="Why the cat refused (e.g. not_hungry); empty if accepted."
    )
    message = serializers.CharField(help_text="The cat's answer, in character.")
    state = CatStateSerializer()


# --- fields --------------------------------------------------------------------------------


class StrictCharField(serializers.CharField):
    """A CharField that takes only JSON strings (DRF's would turn `123` into "123") and only
    text PostgreSQL can store (no lone surrogates such as "\\ud800"; NUL is refused by DRF)."""

    default_error_messages = {
        "invalid": "Not a valid string.",
        "unstorable": "Not valid Unicode text.",
    }

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            data.encode("utf-8")
        except UnicodeEncodeError:
            self.fail("unstorable")
        return str(super().to_internal_value(data))


class IsoDateTimeField(serializers.DateTimeField):
    """Output only: `datetime.isoformat()`, exactly as the WebSocket frames write it
    (cats/frames.py), so a message or cat reads the same over REST and WebSocket."""

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


class _BlankAsNull(serializers.CharField):
    def to_representation(self, value: str) -> str | None:  # type: ignore[override]
        return value or None


class MessageErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="e.g. llm_timeout, llm_unavailable.")
    detail = serializers.CharField(allow_blank=True)


@extend_schema_field(MessageErrorSerializer(allow_null=True))
class _MessageErrorField(serializers.Field):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(source="*", **kwargs)

    def to_representation(self, message: Message) -> dict[str, str] | None:
        # As cats.frames.message_payload: REST has no error detail to add.
        return {"code": message.error_code, "detail": ""} if message.error_code else None


# --- cats ----------------------------------------------------------------------------------


class CatSerializer(serializers.Serializer):
    """A cat (PRODUCT.md "Shapes") with its state right now, computed from its row.

    Give `context={"now": ...}` to compute a whole list's states at one moment."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    personality = serializers.CharField(read_only=True)
    coat = serializers.CharField(read_only=True, help_text="Coat colour, free text.")
    created_at = IsoDateTimeField(read_only=True)
    state = serializers.SerializerMethodField()

    @extend_schema_field(CatStateSerializer)
    def get_state(self, cat: Cat) -> dict[str, Any]:
        return dict(CatStateSerializer(cat_state(cat, now=self.context.get("now"))).data)


class CatCreateSerializer(serializers.Serializer):
    """Input of `POST cats/`: the rules of cats.forms.AdoptForm (trimmed; name required)."""

    name = StrictCharField(max_length=_CAT_NAME)
    personality = StrictCharField(
        max_length=_CAT_PERSONALITY,
        required=False,
        allow_blank=True,
        default="",
        help_text="A few words on character: shy, curious, a little dramatic.",
    )
    coat = StrictCharField(
        max_length=_CAT_COAT,
        required=False,
        allow_blank=True,
        default="",
        help_text="Coat colour, free text.",
    )


class CatUpdateSerializer(serializers.Serializer):
    """Input of `PATCH cats/{id}/`: any of the adoption fields; those left out stay as they are."""

    name = StrictCharField(max_length=_CAT_NAME, required=False)
    personality = StrictCharField(max_length=_CAT_PERSONALITY, required=False, allow_blank=True)
    coat = StrictCharField(max_length=_CAT_COAT, required=False, allow_blank=True)


# --- conversations and messages ------------------------------------------------------------


class ConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    cat = serializers.IntegerField(source="cat_id", read_only=True)
    title = serializers.CharField(
        read_only=True, help_text="Empty until named (a chat names it after its first line)."
    )
    created_at = IsoDateTimeField(read_only=True)
    updated_at = IsoDateTimeField(read_only=True, help_text="The last message or rename.")


class ConversationHitSerializer(ConversationSerializer):
    """A conversation in a list; with `?q=`, also what in it answers the search. Output only."""

    snippet = serializers.CharField(
        required=False,
        help_text="With `?q=` only: the message (or title) that answers the search.",
    )
    message = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="With `?q=` only: that message's id (null when the title matched).",
    )


class ConversationSearchSerializer(serializers.Serializer):
    """Query of `GET cats/{id}/conversations/`."""

    q = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")


class MessageListQuerySerializer(serializers.Serializer):
    """Query of `GET conversations/{id}/messages/`."""

    kept = serializers.BooleanField(
        required=False,
        default=None,
        allow_null=True,
        help_text="true: only the shown path (what the chat page shows and the cat is read "
        "back); false: only the hidden alternatives, versions and branches. Every message "
        "when left out.",
    )


class ConversationCreateSerializer(serializers.Serializer):
    """Input of `POST cats/{id}/conversations/`."""

    title = StrictCharField(max_length=_TITLE, required=False, allow_blank=True, default="")


class ConversationRenameSerializer(serializers.Serializer):
    """Input of `PATCH conversations/{id}/`: a title of 1 to 120 characters, trimmed."""

    title = StrictCharField(max_length=_TITLE)


CAT_ONLY_FIELDS = ("model", "usage", "mood", "memories_used", "episodes_used", "seq", "error")
USER_ONLY_FIELDS = ("edit_of",)


class MessageSerializer(serializers.Serializer):
    """A message exactly as the WebSocket frames carry it (`cats.frames.message_payload`): the
    fields of a cat reply (`model`, `usage`, `mood`, `memories_used`, `episodes_used`, `seq`,
    `error`) are left out of a user message, and `edit_of` out of a reply. Output only."""

    id = serializers.IntegerField()
    conversation = serializers.IntegerField(source="conversation_id")
    role = serializers.ChoiceField(choices=Message.Role.values)
    text = serializers.CharField(allow_blank=True, help_text="So far, while `streaming`.")
    status = serializers.ChoiceField(choices=Message.Status.values)
    created_at = IsoDateTimeField()
    kept = serializers.BooleanField(
        help_text=(
            "Whether the message is on the conversation's shown path, read back to the cat: of "
            "the replies to one user message (a regenerated reply keeps the earlier ones as "
            "alternatives) one is kept, and of the versions of an edited message one, with the "
            "turns that followed it (the others' turns are kept too, hidden)."
        )
    )
    client_id = serializers.UUIDField(
        allow_null=True, help_text="The sender's idempotency key (user messages)."
    )
    reply_to = serializers.IntegerField(
        source="reply_to_id", allow_null=True, help_text="The user message a reply answers."
    )
    edit_of = serializers.IntegerField(
        source="edit_of_id",
        required=False,
        allow_null=True,
        help_text="An edited user message: its first version (user messages only).",
    )
    model = serializers.CharField(required=False, allow_blank=True)
    usage = serializers.DictField(
        child=serializers.IntegerField(),
        required=False,
        allow_null=True,
        help_text="Token usage: prompt_tokens, completion_tokens, total_tokens.",
    )
    mood = _BlankAsNull(required=False, allow_null=True, help_text="The mood it wrote in.")
    memories_used = serializers.ListField(
        child=serializers.IntegerField(), required=False, help_text="Ids of memories it used."
    )
    episodes_used = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        help_text="Ids of the human's earlier messages it was given as episodes.",
    )
    seq = serializers.IntegerField(
        source="stream_seq", required=False, help_text="The last streamed delta included."
    )
    error = _MessageErrorField(required=False, allow_null=True)

    def to_representation(self, instance: Message) -> dict[str, Any]:
        data: dict[str, Any] = super().to_representation(instance)
        for field in USER_ONLY_FIELDS if instance.role == Message.Role.CAT else CAT_ONLY_FIELDS:
            del data[field]
        return data


# --- importing past conversations ------------------------------------------------------------


@extend_schema_field(
    {"oneOf": [{"type": "string", "maxLength": MAX_ID_CHARS}, {"type": "integer"}]}
)
class ImportIdField(serializers.Field):
    """A session's or turn's id in the document: a string or an integer, kept as a string
    (`7` and `"7"` are the same id)."""

    default_error_messages = {
        "invalid": "Must be a string or an integer.",
        "blank": "This field may not be blank.",
        "max_length": f"Ensure this field has no more than {MAX_ID_CHARS} characters.",
        "unstorable": "Not valid Unicode text.",
    }

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, bool) or not isinstance(data, str | int):
            self.fail("invalid")
        text = str(data)
        if not text.strip():
            self.fail("blank")
        if len(text) > MAX_ID_CHARS:
            self.fail("max_length")
        if "\x00" in text:
            self.fail("unstorable")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            self.fail("unstorable")
        return text

    def to_representation(self, value: str) -> str:
        return value


class ImportTurnSerializer(serializers.Serializer):
    """One turn of `POST cats/{id}/import/`."""

    id = ImportIdField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Your id for the turn, unique in the document: the answer maps it to its "
        "message, and a re-import recognises the turn by it.",
    )
    role = serializers.ChoiceField(choices=Message.Role.values)
    text = StrictCharField(
        trim_whitespace=False,
        allow_blank=True,
        help_text="Cleaned and limited as a chat message (up to 4,000 characters).",
    )
    time = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="ISO 8601 (UTC when without offset). Left out: one second after the turn "
        "before (the first turn: the session's start).",
    )

    def validate(self, attrs: dict[str, Any]) -> ImportTurn:
        return ImportTurn(**attrs)


class ImportSessionSerializer(serializers.Serializer):
    """One session of `POST cats/{id}/import/`: it becomes one conversation."""

    id = ImportIdField(help_text="Your id for the session, unique in the document.")
    started_at = serializers.DateTimeField(help_text="ISO 8601 (UTC when without offset).")
    title = StrictCharField(
        max_length=_TITLE,
        required=False,
        allow_blank=True,
        default="",
        help_text="The conversation's title; after its first user turn when left out.",
    )
    turns: serializers.ListSerializer[ImportTurn] = serializers.ListSerializer(
        child=ImportTurnSerializer(), allow_empty=False, max_length=MAX_TURNS
    )

    def validate(self, attrs: dict[str, Any]) -> ImportSession:
        return ImportSession(**attrs)


class ImportDocumentSerializer(serializers.Serializer):
    """Input of `POST cats/{id}/import/` (the README's "Importing past conversations")."""

    sessions: serializers.ListSerializer[ImportSession] = serializers.ListSerializer(
        child=ImportSessionSerializer(), max_length=MAX_TURNS
    )

    def to_internal_value(self, data: Any) -> Any:
        # Counted before the turns are read one by one: an oversized document is refused cheaply.
        sessions = data.get("sessions") if isinstance(data, dict) else None
        if isinstance(sessions, list):
            turns = sum(
                len(s["turns"])
                for s in sessions
                if isinstance(s, dict) and isinstance(s.get("turns"), list)
            )
            if turns > MAX_TURNS:
                raise serializers.ValidationError(
                    {
                        "sessions": [
                            f"At most {MAX_TURNS} turns can be imported at once; this document "
                            f"has {turns}. Split it: importing again adds only what is new."
                        ]
                    }
                )
        return super().to_internal_value(data)


class ImportedConversationSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The conversation.")
    session = serializers.CharField(help_text="The session's id in the document.")


class ImportResultSerializer(serializers.Serializer):
    """What `POST cats/{id}/import/` did."""

    conversations = ImportedConversationSerializer(
        many=True, help_text="One per session, in the document's order."
    )
    messages = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Turn id -> message id, for every turn that has an id (imported or found).",
    )
    imported = serializers.IntegerField(help_text="Messages added.")
    skipped = serializers.IntegerField(help_text="Turns already imported before: not added again.")
