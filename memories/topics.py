"""Document expansion for recall: what a memory is about, in words a question would use.

A small embedder does not link "what should I cook tonight?" to "Loves sushi" (measured: the
right memory ranked 7th of 23 with multilingual-e5-small). Embedding the memory together with
the topic its words belong to ("food, eating, cooking, dinner") puts it first. Only the vector
gets the gloss; the memory's text, full-text vector and everything shown stay as they are.
"""

from __future__ import annotations

import re

# topic gloss -> words (English, French, Spanish) that put a memory in that topic.
_TOPICS: dict[str, frozenset[str]] = {
    "food, eating, cooking, meals, dinner": frozenset(
        """sushi ramen pizza pasta curry tacos burger burgers salad cake cakes bread rice
        noodles steak chicken fish soup cheese chocolate pancakes croissants dumplings
        lasagna paella tapas couscous falafel kebab barbecue bbq vegetables fruit desserts
        cookies sandwiches sashimi tempura pho biryani risotto omelette crêpes crepes
        fromage chocolat pâtes riz poulet poisson soupe gâteau pain queso arroz pollo
        pescado sopa tarta cook cooking cuisine cocinar""".split()
    ),
    "drinks, coffee, tea, beverages": frozenset(
        "coffee tea wine beer juice café thé vin bière cerveza vino té".split()
    ),
    "music, instrument, playing, songs": frozenset(
        """cello piano guitar violin drums flute saxophone trumpet ukulele harp bass jazz
        rock opera choir singing violoncelle guitare batterie chitarra guitarra""".split()
    ),
    "sport, exercise, running, training": frozenset(
        """marathon running run football soccer tennis yoga swimming cycling climbing
        basketball hiking gym boxing skiing surf surfing course natation fútbol""".split()
    ),
    "reading, books, novels": frozenset(
        "books novels reading poetry comics manga livres romans lire libros novelas".split()
    ),
}


def passage_text(text: str) -> str:
    """The text to embed for a memory: the memory, then the topics it touches, if any."""
    words = {w.casefold() for w in re.findall(r"[^\W\d_]+", text)}
    glosses = [gloss for gloss, vocabulary in _TOPICS.items() if words & vocabulary]
    return f"{text} ({'; '.join(glosses)})" if glosses else text
