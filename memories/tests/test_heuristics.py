"""The offline brain's memory: which statements become facts, in the human's language, and which
must not (a wrong memory is worse than a missed one). Pure: no database, no settings."""

from __future__ import annotations

import pytest

from memories.heuristics import CATEGORIES, Fact, extract_facts, forget_request


# The root conftest's autouse fixtures need pytest-django; these tests need neither a database
# nor settings, so they also run with `-p no:django`.
@pytest.fixture(autouse=True)
def _channels_keeps_test_connections() -> None:
    pass


@pytest.fixture(autouse=True)
def _fast_offline_brain() -> None:
    pass


@pytest.fixture(autouse=True)
def _close_worker_thread_connections() -> None:
    pass


STATEMENTS = [
    # name
    ("My name is Sam.", "Name is Sam", "identity", "name"),
    ("Hi, I'm Sam!", "Name is Sam", "identity", "name"),
    ("I am Sam Carter", "Name is Sam Carter", "identity", "name"),
    ("you can call me Jo", "Name is Jo", "identity", "name"),
    ("my name is sam", "Name is Sam", "identity", "name"),
    # likes and dislikes
    ("I love sushi!", "Loves sushi", "preference", "like:sushi"),
    ("I really like jazz", "Likes jazz", "preference", "like:jazz"),
    ("I hate mornings", "Hates mornings", "preference", "dislike:mornings"),
    ("I don't like olives", "Doesn't like olives", "preference", "dislike:olives"),
    ("I can't stand the cold", "Can't stand the cold", "preference", "dislike:cold"),
    (
        "I'm a big fan of Taylor Swift",
        "Is a fan of Taylor Swift",
        "preference",
        "like:taylor swift",
    ),
    ("My favourite food is ramen", "Favourite food is ramen", "preference", "favorite:food"),
    # family
    ("My sister is called Mia", "Sister is called Mia", "people", "person:sister:mia"),
    ("my brother Tom is a pilot", "Brother is called Tom", "people", "person:brother:tom"),
    ("My mom's name is Ana", "Mom is called Ana", "people", "person:mother"),
    (
        "I have a little brother named Leo",
        "Little brother is called Leo",
        "people",
        "person:brother:leo",
    ),
    # pets
    ("I have a dog named Rex", "Has a dog named Rex", "pets", "pet:rex"),
    ("my cat Luna sleeps all day", "Has a cat named Luna", "pets", "pet:luna"),
    ("Our parrot is called Kiwi.", "Has a parrot named Kiwi", "pets", "pet:kiwi"),
    ("I've got two cats", "Has two cats", "pets", None),
    # job and workplace
    ("I work as a nurse", "Works as a nurse", "work", "job"),
    ("I'm a teacher", "Is a teacher", "work", "job"),
    ("I'm a high school teacher in Lyon", "Is a high school teacher in Lyon", "work", "job"),
    ("I work at Google", "Works at Google", "work", "workplace"),
    ("I work in a bakery", "Works in a bakery", "work", "workplace"),
    ("I'm retired", "Is retired", "work", "job"),
    # home, home town, birthplace
    ("I live in Lyon", "Lives in Lyon", "place", "home"),
    ("I moved to Paris last month", "Moved to Paris", "place", "home"),
    ("We just moved to New York", "Moved to New York", "place", "home"),
    ("I grew up in Dakar", "Grew up in Dakar", "place", "hometown"),
    ("I'm from Montreal originally", "Is from Montreal", "place", "hometown"),
    ("I was born in Rio de Janeiro", "Was born in Rio de Janeiro", "place", "birthplace"),
    # fears
    ("I'm scared of thunderstorms", "Is scared of thunderstorms", "health", None),
    ("I'm really afraid of spiders", "Is afraid of spiders", "health", None),
    ("Thunderstorms scare me", "Is afraid of thunderstorms", "health", None),
    # health
    ("I'm allergic to peanuts", "Is allergic to peanuts", "health", None),
    ("I have asthma", "Has asthma", "health", None),
    ("I'm vegetarian", "Is vegetarian", "preference", "diet"),
    # birthday
    ("My birthday is on March 3rd", "Birthday is on March 3", "identity", "birthday"),
    ("I was born on 3 March 1990", "Birthday is on March 3, 1990", "identity", "birthday"),
    ("my bday's the 14th of February", "Birthday is on February 14", "identity", "birthday"),
    # French
    ("J'habite à Lyon", "Habite à Lyon", "place", "home"),
    ("Je m'appelle Camille", "S'appelle Camille", "identity", "name"),
    ("J'adore le fromage", "Adore le fromage", "preference", "like:fromage"),
    ("Je n'aime pas les épinards", "N'aime pas les épinards", "preference", "dislike:épinards"),
    ("J'ai peur des orages", "A peur des orages", "health", None),
    ("Ma sœur s'appelle Mia", "Sœur s'appelle Mia", "people", "person:sister:mia"),
    ("J'ai un chien qui s'appelle Rex", "A un chien qui s'appelle Rex", "pets", "pet:rex"),
    ("Je suis infirmière", "Est infirmière", "work", "job"),
    ("J'ai déménagé à Paris", "A déménagé à Paris", "place", "home"),
    ("Je viens de Dakar", "Vient de Dakar", "place", "hometown"),
    ("Je suis allergique aux arachides", "Est allergique aux arachides", "health", None),
    ("Mon anniversaire est le 3 mars", "Anniversaire le 3 mars", "identity", "birthday"),
    # Spanish
    ("Vivo en Madrid", "Vive en Madrid", "place", "home"),
    ("Me llamo Lucía", "Se llama Lucía", "identity", "name"),
    ("Me encanta el chocolate", "Le encanta el chocolate", "preference", "like:chocolate"),
    ("No me gustan las aceitunas", "No le gustan las aceitunas", "preference", "dislike:aceitunas"),
    ("Tengo una gata que se llama Luna", "Tiene una gata llamada Luna", "pets", "pet:luna"),
    ("Mi hermano se llama Pablo", "Hermano se llama Pablo", "people", "person:brother:pablo"),
    ("Trabajo como enfermera", "Trabaja como enfermera", "work", "job"),
    ("Soy de México", "Es de México", "place", "hometown"),
    ("Tengo miedo a las arañas", "Tiene miedo a las arañas", "health", None),
    ("Mi cumpleaños es el 3 de marzo", "Cumpleaños el 3 de marzo", "identity", "birthday"),
]


@pytest.mark.parametrize(("message", "text", "category", "slot"), STATEMENTS)
def test_a_plain_statement_becomes_one_fact(
    message: str, text: str, category: str, slot: str | None
) -> None:
    facts = extract_facts(message)
    assert [(f.text, f.category, f.slot) for f in facts] == [(text, category, slot)]
    (fact,) = facts
    assert fact.quote and fact.quote in message
    assert fact.category in CATEGORIES
    assert 1 <= fact.importance <= 5


NOTHING = [
    # questions
    "Do you like sushi?",
    "Where do I live?",
    "what's my name",
    "Do you remember my dog Rex?",
    "¿Te gusta el sushi?",
    "Est-ce que tu aimes le fromage ?",
    # greetings, moods and small talk
    "Hello kitty!",
    "I'm tired",
    "i'm tired",
    "I'm fine, thanks",
    "I'm Tired And Hungry",
    "I think so",
    "I'm afraid I have to go",
    "I'm a bit tired today",
    "I'm from the future",
    "I'M SAM AND I LIVE IN LYON",
    # about the cat
    "you're a good cat",
    "You are cute",
    "I love you",
    "I like your whiskers",
    "I love it when you purr",
    "Je t'aime",
    # negated, hypothetical, hedged, past, wished
    "I don't have a dog",
    "If I had a dog I would call him Rex",
    "I think I'm allergic to cats",
    "I don't think I like jazz",
    "I used to live in Lyon",
    "I'd love to live in Paris",
    "I wish I lived in Paris",
    "I live in Lyon or Paris, not sure",
    "Forget that I live in Lyon",
    "Don't forget I love sushi",
    "No me gusta",
    # judgements that look like jobs, places that are not names
    "I'm a terrible cook",
    "I'm a cat person",
    "I live in a small flat",
    "My name is not important",
    "I'm Sam's mom",
    "I'm Christian",
    "I'm a teacher's pet",
    "I work in London",
    "I'm moving to Berlin next year",
    "my dog ate my homework",
    "I hate to say it but you're right",
    "Je viens de manger",
    "J'aime quand tu ronronnes",
    "Je n'ai pas de chien",
    "Mi trabajo en Google es aburrido",
    "Trabajo de noche",
    "Creo que soy alérgico a los gatos",
]


@pytest.mark.parametrize("message", NOTHING)
def test_no_fact_from_what_states_nothing_about_the_human(message: str) -> None:
    assert extract_facts(message) == []


def test_several_facts_in_one_message_are_all_found_in_order() -> None:
    message = (
        "Hi! I'm Sam, I live in Lyon and I have a dog named Rex.\n"
        "I love sushi but I hate olives. My sister is called Mia."
    )
    facts = extract_facts(message)
    assert [f.text for f in facts] == [
        "Name is Sam",
        "Lives in Lyon",
        "Has a dog named Rex",
        "Loves sushi",
        "Hates olives",
        "Sister is called Mia",
    ]
    assert all(f.quote in message for f in facts)


def test_a_statement_before_a_question_still_counts() -> None:
    assert [f.text for f in extract_facts("I love jazz, do you?")] == ["Loves jazz"]


def test_moving_fills_the_same_slot_as_living_somewhere() -> None:
    (lyon,) = extract_facts("I live in Lyon.")
    (paris,) = extract_facts("I moved to Paris last month.")
    (lyon_fr,) = extract_facts("J'habite à Lyon")
    (madrid,) = extract_facts("Me mudé a Madrid")
    assert lyon.slot == paris.slot == lyon_fr.slot == madrid.slot == "home"
    assert "Paris" in paris.text and "Lyon" in lyon.text


def test_a_like_and_a_dislike_of_the_same_thing_name_the_same_thing() -> None:
    (like,) = extract_facts("I love olives")
    (dislike,) = extract_facts("I don't like olives")
    assert (like.slot, dislike.slot) == ("like:olives", "dislike:olives")


def test_one_parent_one_slot_but_siblings_may_be_several() -> None:
    (mom,) = extract_facts("My mom is called Ana")
    (mom_again,) = extract_facts("my mother's name is Rosa")
    (mia,) = extract_facts("My sister is called Mia")
    (lea,) = extract_facts("my older sister Lea")
    assert mom.slot == mom_again.slot == "person:mother"
    assert mia.slot != lea.slot


def test_the_quote_is_the_exact_snippet_from_the_message() -> None:
    message = "Well… I’m from Montréal, but these days I live in Paris 🙂"
    facts = extract_facts(message)
    assert [(f.text, f.slot) for f in facts] == [
        ("Is from Montréal", "hometown"),
        ("Lives in Paris", "home"),
    ]
    for fact in facts:
        assert fact.quote in message


def test_the_same_fact_said_twice_in_one_message_is_returned_once() -> None:
    assert [f.text for f in extract_facts("I love sushi. I love sushi!")] == ["Loves sushi"]


def test_a_fact_naming_the_cat_itself_is_left_out() -> None:
    assert extract_facts("my cat Whiskers is the best", cat_name="Whiskers") == []
    assert extract_facts("I love Whiskers", cat_name="whiskers") == []
    assert [f.text for f in extract_facts("I love Whiskers")] == ["Loves Whiskers"]


def test_facts_are_immutable_values() -> None:
    fact = Fact("Lives in Lyon", "place", 4, "home", "I live in Lyon")
    with pytest.raises(AttributeError):
        fact.text = "Lives in Paris"  # type: ignore[misc]
    assert fact == Fact("Lives in Lyon", "place", 4, "home", "I live in Lyon")


def test_important_facts_weigh_more_than_tastes() -> None:
    (name,) = extract_facts("My name is Sam")
    (allergy,) = extract_facts("I'm allergic to peanuts")
    (like,) = extract_facts("I like jazz")
    assert name.importance >= 4 and allergy.importance >= 4
    assert like.importance == 3


SAID_AS_PEOPLE_CHAT = [
    # negations and needs
    ("i can't eat shellfish", "Can't eat shellfish", "health"),
    ("I don't drink milk", "Doesn't drink milk", "preference"),
    ("je ne mange pas de viande", "Ne mange pas de viande", "preference"),
    ("je peux pas boire de lait", "Ne peut pas boire de lait", "health"),
    ("I need at least 8 hours of sleep", "Needs at least 8 hours of sleep", "routine"),
    # without "I"
    ("allergic to peanuts lol", "Is allergic to peanuts", "health"),
    ("ugh, scared of wasps", "Is scared of wasps", "health"),
    ("vegetarian since forever", "Is vegetarian", "preference"),
    ("double shift again at the restaurant", "Works double shifts at the restaurant", "work"),
    ("teacher at a primary school", "Is a teacher at a primary school", "work"),
    ("working from home all week", "Works from home", "work"),
    # hobbies and learning
    ("I'm learning Korean", "Is learning Korean", "preference"),
    ("i've taken up knitting", "Has taken up knitting", "preference"),
    ("I play the drums in a band", "Plays the drums in a band", "preference"),
    ("j'apprends le violon", "Apprend le violon", "preference"),
    ("je fais du yoga le dimanche matin", "Fait du yoga", "preference"),
    ("je me suis mis à la course", "S'est mis à la course", "preference"),
    # work at a place; a place runs to the end of its name
    ("I work weekends at a hospital", "Works at a hospital", "work"),
    ("je bosse chez Leroy Merlin", "Travaille chez Leroy Merlin", "work"),
    (
        "je suis infirmière dans une clinique à Aix-en-Provence",
        "Est infirmière dans une clinique à Aix-en-Provence",
        "work",
    ),
    (
        "I'm a nurse at a clinic in Salt Lake City",
        "Is a nurse at a clinic in Salt Lake City",
        "work",
    ),
    # French idioms
    ("j'ai une peur bleue des serpents", "A une peur bleue des serpents", "health"),
    ("je kiffe le rap", "Kiffe le rap", "preference"),
    ("je suis accro aux séries", "Est accro aux séries", "preference"),
    ("j'en peux plus de mon boulot", "N'en peut plus de son boulot", "work"),
    ("je suis pas du matin", "N'est pas du matin", "preference"),
]


@pytest.mark.parametrize(("message", "text", "category"), SAID_AS_PEOPLE_CHAT)
def test_what_people_say_in_passing_is_learned(message: str, text: str, category: str) -> None:
    assert [(f.text, f.category) for f in extract_facts(message)] == [(text, category)]


def test_a_pronoun_stands_for_what_was_just_named() -> None:
    facts = extract_facts("wasps in the garden again. i'm terrified of them")
    assert [f.text for f in facts] == ["Is terrified of wasps"]


def test_several_pets_in_one_sentence_each_get_their_name() -> None:
    facts = extract_facts("we have two rabbits, Pip and Squeak, and a hamster called Dot")
    assert [f.text for f in facts] == [
        "Has a rabbit named Pip",
        "Has a rabbit named Squeak",
        "Has a hamster named Dot",
    ]
    facts = extract_facts("j'ai un chien qui s'appelle Filou et une chatte, Praline")
    assert [f.text for f in facts] == [
        "A un chien qui s'appelle Filou",
        "A une chatte qui s'appelle Praline",
    ]


def test_a_pet_named_in_a_sentence_of_its_own() -> None:
    facts = extract_facts("We just adopted a puppy! His name is Bruno.")
    assert [f.text for f in facts] == ["Has a puppy named Bruno"]
    facts = extract_facts("we named her Olive, she's a greyhound")
    assert [f.text for f in facts] == ["Has a greyhound named Olive"]


def test_a_pet_list_ends_where_someone_else_is_the_subject() -> None:
    facts = extract_facts("we have a dog, Rex, and my sister has a cat, Tom")
    assert [f.text for f in facts] == ["Has a dog named Rex"]


GRAMMAR_LEARNED_SINCE = [
    # a kind of place placed by a name; a perfect tense with a duration is where they live
    ("grew up in a little town outside Lyon", "Grew up in a little town outside Lyon", "place"),
    (
        "je viens d'un petit village près de Rodez",
        "Vient d'un petit village près de Rodez",
        "place",
    ),
    ("I've lived in Oslo since 2015", "Lives in Oslo", "place"),
    # a condition as the subject; pets counted after "our"
    ("my eczema is flaring up again", "Has eczema", "health"),
    ("our three hens lay every day", "Has three hens", "pets"),
    # a devotee named after the thing; abbreviations
    ("I'm a massive coffee addict", "Is a coffee addict", "preference"),
    ("my fave song is Heroes", "Favourite song is Heroes", "preference"),
    # teaching and a job with its whole complement
    ("I teach history at a college", "Teaches history at a college", "work"),
    (
        "je travaille comme vendeuse dans une boulangerie à Brest",
        "Travaille comme vendeuse dans une boulangerie à Brest",
        "work",
    ),
    # a diet said as "none for me", a habit given up, a test passed
    ("no gluten for me", "Avoids gluten", "health"),
    ("I quit smoking in 2019", "Quit smoking", "health"),
    ("j'ai enfin eu mon permis", "A eu son permis", "event"),
    # a kind of person takes a few more words; "je supporte pas" without "ne"
    (
        "je ne supporte pas les gens qui mâchent la bouche ouverte",
        "Ne supporte pas les gens qui mâchent la bouche ouverte",
        "preference",
    ),
]


@pytest.mark.parametrize(("message", "text", "category"), GRAMMAR_LEARNED_SINCE)
def test_general_grammar_learned_from_the_tuning_set(
    message: str, text: str, category: str
) -> None:
    assert [(f.text, f.category) for f in extract_facts(message)] == [(text, category)]


def test_a_detail_inside_another_statement_is_also_learned() -> None:
    facts = extract_facts("we live in Ghent with our two rabbits")
    assert [f.text for f in facts] == ["Lives in Ghent", "Has two rabbits"]


NOT_LEARNED_SINCE = [
    "no pizza for me tonight",  # a dish today, not a diet
    "my dad quit smoking",
    "you're a huge Spurs fan",
    "I've lived in Oslo",  # maybe in the past
    "my mum's arthritis is bad",
    "I love mondays /s",  # sarcasm
    "I hope I passed my exam",
    "teach me to hunt at home",
]


@pytest.mark.parametrize("message", NOT_LEARNED_SINCE)
def test_the_new_grammar_still_leaves_others_and_doubts_out(message: str) -> None:
    assert extract_facts(message) == []


PASSING_DECOYS = [
    "my brother is a chef, allergic to garlic too",  # his allergy, not theirs
    "don't eat the yellow snow",
    "can you eat grapes?",
    "i can't eat another bite",
    "gluten free bread is gross",
    "play with me!",
    "started a new job today",
    "je fais de mon mieux",
    "si j'apprends le piano un jour",
    "we named our boat Rosie",
    "nurse at the hospital said I'm fine",
]


@pytest.mark.parametrize("message", PASSING_DECOYS)
def test_no_fact_from_a_passing_remark_that_is_not_about_the_human(message: str) -> None:
    assert extract_facts(message) == []


FORGET = [
    ("forget that I live in Lyon", "I live in Lyon"),
    ("Please forget about my sister.", "my sister"),
    ("forget it", ""),
    ("Forget that!", ""),
    ("Can you forget that?", ""),
    ("Mrrp. Please forget my birthday, kitty", "my birthday"),
    ("forget what I said about Lyon", "Lyon"),
    ("forget I told you about my sister", "my sister"),
    ("Oublie que j'habite à Lyon", "j'habite à Lyon"),
    ("oublie ça", ""),
    ("Oublie ma sœur s'il te plaît", "ma sœur"),
    ("Olvida que vivo en Madrid", "vivo en Madrid"),
    ("Olvídalo", ""),
    ("olvídate de mi hermana, por favor", "mi hermana"),
]


@pytest.mark.parametrize(("message", "what"), FORGET)
def test_a_request_to_forget_says_what(message: str, what: str) -> None:
    assert forget_request(message) == what


NOT_FORGET = [
    "I love sushi",
    "Don't forget my birthday!",
    "I always forget my keys",
    "I forgot my umbrella",
    "Did you forget my name?",
    "Do you ever forget things?",
    "N'oublie pas mon anniversaire",
    "No olvides mi cumpleaños",
    "Unforgettable",
]


@pytest.mark.parametrize("message", NOT_FORGET)
def test_other_messages_are_not_requests_to_forget(message: str) -> None:
    assert forget_request(message) is None
