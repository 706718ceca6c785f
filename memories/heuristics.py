"""The offline brain's memory: facts about the human read from what they say, with no network.

Used when no MISTRAL_API_KEY is set (or Mistral fails). Pure functions of the message text:
`extract_facts` finds the common first-person statements (name, likes and dislikes, family, pets
and their names, job and workplace, home, home town, fears, allergies and diet, what the human
can't or doesn't eat, hobbies and what they are learning, habits, birthday) in English, French and
Spanish, and `forget_request` recognises "forget that ...".

People chat without "I": a clause may leave out its subject ("allergic to cats lol", "night shift
again at the hospital") when it opens the sentence or follows a clause of the human's, never after
"my sister ...". "Them" stands for the plural noun said just before ("spiders everywhere. I'm
terrified of them"), and pets listed after one "I have" each keep their name ("two cats, Miso and
Tofu"). A place runs to the end of its proper name ("à Saint-Étienne", "in New York City") or is a
kind of place placed by one ("a tiny village near Cork"). A rule that reads a detail inside another
statement ("I live in Leeds with our two dogs") does not compete with it for the words.
memories/tests/learning_set.json (tuning) and learning_set_fresh.json (untuned) measure all this
on realistic messages (see LEARNING.md).

Precision beats recall here: a wrong memory is worse than a missed one. So a statement counts only
in the first person, in the present, asserted: questions, conditionals ("if I had a dog"), hedges
("I think I'm allergic"), negations ("I don't have a dog") and talk about the cat ("I love you")
teach nothing, and open slots (a name, a place, a job) accept only what looks like one.

Each fact keeps the human's language ("J'habite à Lyon" gives "Habite à Lyon") and a `slot` for
supersession: a new fact for a filled slot replaces the old one ("Moved to Paris" and "Lives in
Lyon" both fill "home").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

# The values of memories.models.Memory.Category (a test keeps the two in step); kept here so that
# the extraction modules stay importable and testable as plain Python.
CATEGORIES: tuple[str, ...] = (
    "identity",
    "preference",
    "people",
    "pets",
    "work",
    "place",
    "health",
    "routine",
    "event",
    "other",
)

_SLOT_MAX = 80  # Memory.slot
_QUOTE_MAX = 300  # Memory.source_quote


def _phrases(table: str) -> tuple[str, ...]:
    """A word list written "one, two words, three" (whitespace inside a phrase normalised)."""
    return tuple(" ".join(phrase.split()) for phrase in table.split(","))


def _numbered(table: str) -> dict[str, int]:
    """A table written "word=1, word=2"."""
    return {key: int(value) for key, value in _pairs(table).items()}


def _pairs(table: str) -> dict[str, str]:
    """A word table written "said=meaning, said=meaning" (kept compact: there are many)."""
    pairs = (entry.split("=") for entry in table.split(","))
    return {" ".join(key.split()): value.strip() for key, value in pairs}


@dataclass(frozen=True)
class Fact:
    """One fact about the human. `quote` is an exact substring of the message it came from."""

    text: str
    category: str
    importance: int
    slot: str | None
    quote: str


class _Draft(NamedTuple):
    text: str
    category: str
    importance: int
    slot: str | None


@dataclass(frozen=True)
class _Clause:
    text: str  # an exact slice of the message
    start: int  # its offset in the message
    lowercase: bool  # the human writes without capitals: a lowercase name may still be a name
    sentence_start: bool
    # The clause may leave out its subject and still be about the human: it opens the sentence
    # ("allergic to cats lol") or follows a clause of theirs ("live in Leeds but from Newcastle").
    subject_free: bool = False
    before: str = ""  # the message up to the clause, for "them" in "I'm terrified of them"
    after: str = ""  # the sentence after the clause, for "since 2015" in "I've lived here since"


_Build = Callable[[re.Match[str], _Clause], "_Draft | None"]


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    build: _Build
    # A rule that reads a detail inside another statement ("... with our two dogs") neither
    # claims its span nor yields to a span already claimed.
    claims: bool = True


# --- vocabulary -----------------------------------------------------------------------------------

_A = "['’]"  # an apostrophe, straight or curly
_I_AM = rf"\bI(?:{_A}?m|\s+am)"
_I_HAVE = rf"\b(?:I|we)(?:\s+have|{_A}ve\s+got|\s+have\s+got|\s+got)"
_ADV = (
    r"(?:(?:really|truly|absolutely|totally|just|so|very|also|still|too|honestly|actually"
    r"|definitely|kind\s+of|kinda|sort\s+of|genuinely|seriously|do|deeply|quite|pretty|super"
    r"|a\s+bit|a\s+little|extremely|incredibly|severely|terribly|recently|finally|now"
    r"|currently|originally|always|literally)\s+)*"
)
# Spanish drops the subject: a first-person verb counts at the start of a clause only, so that
# "mi trabajo en Google" (my job) is not "trabajo en Google" (I work).
_ES_LEAD = (
    r"^(?:(?:yo|ahora|también|tambien|ya|actualmente|además|ademas|bueno|pues|hola|oye|mira"
    r"|sí|y|pero)[\s,]+)*"
)

# What may open a clause before a statement that leaves out "I" ("ugh night shift again",
# "lol allergic to cats", "bref, fan de jazz").
_LEAD_EN = (
    r"^(?:(?:ugh+|omg|ok|okay|so+|well|honestly|lol|haha+|yeah|yep|also|btw|tbh|and|but|oh|hey"
    r"|hi|plus|nah|anyway|still|welp|fun\s+fact|update)[\s,!.:]+)*"
)
_LEAD_FR = (
    r"^(?:(?:bon|bref|mdr|ptdr|ah|oh|et|mais|sinon|perso|franchement|du\s+coup|bah|ben|enfin"
    r"|alors|ouais|oui|moi|bah|genre)[\s,!.:]+)*"
)
# "I'm" said or left out: the empty group `bare` marks the second, which counts only in a clause
# that may leave out its subject (see _Clause.subject_free).
_I_AM_OR_BARE = rf"(?:{_I_AM}\s+|{_LEAD_EN}(?P<bare>))"
_I_OR_BARE = rf"(?:\bI\s+|{_LEAD_EN}(?P<bare>))"
_JE_SUIS = r"(?:\bje\s+|\bj['’]\s*)suis"
_FIRST_PERSON_START = re.compile(
    r"^\W*(?:(?:so|and|but|ok|well|lol|et|mais|bon)\s+)*(?:I|I['’]m|I['’]ve|I['’]d|im|ive|we"
    r"|we['’]re|we['’]ve|je|j['’]|moi|on|nous)(?!\w)",
    re.IGNORECASE,
)
_OTHER_SUBJECT_START = re.compile(
    r"^\W*(?:(?:so|and|but|ok|well|lol|et|mais|bon)\s+)*(?:he|she|they|it|his|her|their|my|our"
    r"|your|you|u|this|that|there|everyone|someone|people|il|elle|ils|elles|mon|ma|mes|ton|ta|tes"
    r"|son|sa|ses|tu|t['’]|c['’]|ça|ce|les|le|la)(?!\w)",
    re.IGNORECASE,
)
# "Sarah is...", "Marie a ...": a name as the subject (capitalised, so case-sensitive).
_NAMED_SUBJECT_START = re.compile(
    r"^\W*(?!(?:And|But|So|Et|Mais)\b)[A-Z][\w-]+(?:['’]s)?\s+"
    r"(?:is|was|has|had|says|said|thinks|est|a|dit)\b"
)


def _other_subject(clause: str) -> bool:
    """The clause opens on someone other than the human."""
    if _FIRST_PERSON_START.search(clause):
        return False
    return bool(_OTHER_SUBJECT_START.search(clause) or _NAMED_SUBJECT_START.search(clause))


# Words before a statement that make it something other than a plain assertion.
_HEDGE = re.compile(
    r"\b(?:not|never|no|if|whether|would|wish|hope|maybe|perhaps|might|could|should|think"
    r"|thinks|thought|guess|suppose|believe|believes|said|says|say|pretend|imagine|dream|dreamt"
    r"|dreamed|want|wants|wanted|wanna|used|when|unless|forget|forgot|remember\s+when"
    r"|ne|pas|jamais|si|peut-être|pense|crois|voudrais|aimerais|rêve|quand|oublie|oublier"
    r"|nunca|quizás|quizas|quizá|creo|pienso|ojalá|quisiera|cuando|olvida|olvidar|olvídate"
    r"|supongo)\b|n['’]t\b|\bn['’]|['’]d\b",
    re.IGNORECASE,
)
_QUESTION_START = re.compile(
    r"^\W*(?:do|does|did|is|are|am|was|were|can|could|would|will|should|shall|have|has|had"
    r"|what|what['’]s|whats|where|where['’]s|when|who|who['’]s|whom|whose|why|how|which"
    # A negative opens a question only with its subject: "can't you sleep", not "can't eat nuts".
    r"|(?:isn['’]t|aren['’]t|don['’]t|doesn['’]t|didn['’]t|won['’]t|can['’]t)"
    r"(?=\s+(?:you|u|i|we|he|she|they|it|that|this|there)\b)"
    r"|est-ce|qu['’]est|où|quand|comment|pourquoi|quel|quelle|quels|quelles|qui|quoi|combien"
    r"|qué|dónde|donde|cuándo|cómo|por\s+qué|quién|cuál|cuánto|sabes|te\s+acuerdas|recuerdas"
    r"|tienes|eres)\b(?!['’])",
    re.IGNORECASE,
)
_CONDITIONAL_START = re.compile(
    r"^\W*(?:if|even\s+if|unless|suppose|imagine|what\s+if|si|imagina|supón|supon)\b",
    re.IGNORECASE,
)
# An alternative makes the whole clause uncertain ("I live in Lyon or Paris").
_ALTERNATIVE = re.compile(r"\b(?:or|either|neither|nor|ou|ni)\b|\so\s", re.IGNORECASE)

_SENTENCE_END = re.compile(
    r"(?<!\bSt)(?<!\bMt)(?<!\bDr)(?<!\bMr)(?<!\bMs)(?<!\bMrs)(?<!\bJr)(?<!\bSr)[.!?…]+(?=\s|$)"
    r"|\n+"
)
_CLAUSE_BREAK = re.compile(
    r"\s*(?:,(?!\d)|;|:(?!\d))\s*"
    r"|\s+(?:and|but|because|cause|since|though|although|while|whereas|then|et|mais"
    r"|parce\s+que|parce\s+qu['’]|puisque|donc|puis|pero|porque|aunque|y|luego)\s+"
    r"|\s+or\s+(?=(?:else|I|I['’]m|I['’]ll|we)\b)",
    re.IGNORECASE,
)
# Phrases whose "and" is not a break between two statements.
_PROTECTED = re.compile(
    r"\bborn\s+and\s+raised\b|\brock\s+and\s+roll\b|\bfish\s+and\s+chips\b"
    r"|\bmac\s+and\s+cheese\b|\bsalt\s+and\s+pepper\b|\bblack\s+and\s+white\b"
    r"|\bBosnia\s+and\s+Herzegovina\b|\bTrinidad\s+and\s+Tobago\b|\bTrinidad\s+y\s+Tobago\b"
    r"|\bAntigua\s+and\s+Barbuda\b|\bDungeons\s+and\s+Dragons\b|\bsweet\s+and\s+sour\b"
    r"|\barts\s+and\s+crafts\b|\bR\s*and\s*B\b",
    re.IGNORECASE,
)

# Words that end a captured object without belonging to it.
_TRAILING_FILLERS = _phrases(
    """so much, very much, a lot, lots, too, as well, now, nowadays, these days,
    right now, at the moment, currently, lol, haha, hahaha, lmao, btw, honestly, actually,
    really, tbh, ngl, rn, though, already, originally, ok, okay, you know, obviously, of course,
    lately, recently, these days, a lot lately, all the time, minimum, hein,
    beaucoup, aussi, maintenant,
    vraiment, trop, énormément, tellement, en ce moment, actuellement, mdr, mucho, muchísimo,
    también, tambien, ahora, ahora mismo, actualmente, jaja, jajaja, la verdad, de verdad"""
)
_FILLER_TAIL = re.compile(
    r"(?:\s+(?:" + "|".join(re.escape(f) for f in _TRAILING_FILLERS) + r"))+$", re.IGNORECASE
)
_EMOTICON_TAIL = re.compile(r"(?:\s*(?:<3+|:-?[)(DPp3]|;-?\)|xD|XD|\^\^|\^_\^))+$")

# Objects about the cat ("I love you", "I like your fur") or too vague to remember.
_ABOUT_THE_CAT = re.compile(
    r"\b(?:you|your|yours|yourself|u|ur|ya|tu|ton|ta|tes|toi|vous|votre|te|ti|tus|contigo"
    r"|usted)\b",
    re.IGNORECASE,
)
_VAGUE_FIRST = frozenset(
    """it it's this that these those them him her me us when how what if whether where why who
    everything nothing something anything so too my our mine ours myself ourselves
    ça ca cela ceci quand comment ce que qu tout rien pas mon ma mes notre nos moi
    eso esto cuando como cómo todo nada qué mi mis nuestro nuestra""".split()
)
_VAGUE_INFINITIVE = frozenset(
    "say admit tell break bother ask interrupt leave go be do see think hear know imagine".split()
)
_ARTICLES = re.compile(
    r"^(?:(?:the|an|a|some|les|le|la|une|un|des|du|de\s+la|el|los|las|unos|unas)\s+"
    r"|(?:de\s+)?l['’]\s*)",
    re.IGNORECASE,
)

# Capitalised words that are not names.
_NOT_NAMES = frozenset(
    """a an the and or but so if is was are am be been not no yes very really just also still
    too here there home back sorry fine ok okay good great well tired sick sad happy hungry
    thirsty bored busy ready done sure alone new old young late early free single married
    divorced engaged pregnant retired human person man woman girl boy guy kid child baby adult
    cat dog god lol haha hi hey hello bye thanks thank please same different weird long short
    hard difficult funny strange unusual common rare cool nice beautiful ugly boring secret
    private unique important complicated easy simple special pretty excited scared afraid
    worried stressed confused annoyed interested pleased amazed surprised exhausted depressed
    relaxed blessed obsessed embarrassed frustrated disappointed impressed lonely angry sleepy
    lucky crazy silly grumpy moody awake asleep cold hot warm sweaty fat thin tall strong weak
    glad proud curious nervous anxious upset fed full stuffed sober drunk high broke rich poor
    lost here going doing feeling trying getting having coming leaving working living sitting
    not never always only in at on from with into over off out up down about for to of by
    monday tuesday wednesday thursday friday saturday sunday today tomorrow tonight yesterday
    january february march april may june july august september october november december
    christmas easter english french spanish american british canadian mexican italian german
    brazilian australian indian russian chinese japanese korean african european asian
    irish scottish welsh dutch swiss belgian polish swedish danish norwegian finnish turkish
    greek portuguese vietnamese thai arab arabic jewish christian muslim catholic buddhist
    hindu atheist vegan vegetarian gay straight bi trans queer lesbian black white latino
    latina asian français française belge suisse canadien canadienne québécois québécoise
    américain américaine espagnol espagnole español española mexicano mexicana argentino
    argentina colombiano colombiana francés francesa là ici désolé désolée fatigué fatiguée
    content contente prêt prête malade cansado cansada aquí bien mal listo lista
    je tu il elle nous vous ils elles yo él ella i i'm im me my you your he she we they it
    who what where when why how which that this these those someone nobody everyone""".split()
)

_JOBS_EN = frozenset(
    """teacher nurse doctor engineer developer programmer designer lawyer attorney accountant
    student chef cook baker waiter waitress barista bartender pilot driver mechanic electrician
    plumber carpenter farmer scientist researcher professor lecturer tutor architect artist
    musician writer author journalist editor photographer dentist pharmacist vet veterinarian
    therapist psychologist psychiatrist counselor counsellor firefighter paramedic surgeon
    physician midwife cleaner janitor builder gardener hairdresser barber actor actress dancer
    singer tailor butcher salesman saleswoman entrepreneur freelancer intern consultant analyst
    librarian translator interpreter secretary receptionist cashier manager officer soldier
    policeman policewoman cop detective judge banker economist biologist chemist physicist
    mathematician statistician historian archaeologist geologist astronomer illustrator
    animator streamer youtuber coach trainer instructor clerk courier postman mailman
    technician nanny caregiver carer babysitter housekeeper plumber welder painter sculptor
    composer producer director filmmaker poet novelist blogger influencer marketer recruiter
    pharmacist optician radiographer sonographer dietitian nutritionist physiotherapist
    physio optometrist surveyor contractor landscaper florist jeweler jeweller tattooist
    electrician firefighter sailor fisherman miner dev devops paramedic""".split()
)
_JOBS_FR = frozenset(
    """professeur professeure prof enseignant enseignante instituteur institutrice infirmier
    infirmière médecin docteur docteure ingénieur ingénieure développeur développeuse avocat
    avocate comptable étudiant étudiante cuisinier cuisinière chef boulanger boulangère serveur
    serveuse pilote chauffeur mécanicien mécanicienne électricien électricienne plombier
    agriculteur agricultrice chercheur chercheuse architecte artiste musicien musicienne
    écrivain écrivaine journaliste photographe dentiste pharmacien pharmacienne vétérinaire
    psychologue pompier policier policière caissier caissière vendeur vendeuse secrétaire
    traducteur traductrice graphiste designer coiffeur coiffeuse acteur actrice chanteur
    chanteuse consultant consultante retraité retraitée kiné kinésithérapeute sage-femme
    aide-soignant aide-soignante postier postière facteur factrice menuisier jardinier
    jardinière fleuriste libraire bibliothécaire avocat notaire juge banquier banquière
    éducateur éducatrice animateur animatrice nounou dev""".split()
)
_JOBS_ES = frozenset(
    """profesor profesora maestro maestra enfermero enfermera médico médica doctor doctora
    ingeniero ingeniera desarrollador desarrolladora programador programadora abogado abogada
    contador contadora estudiante cocinero cocinera chef panadero panadera camarero camarera
    mesero mesera piloto conductor conductora mecánico mecánica electricista fontanero
    fontanera plomero agricultor agricultora investigador investigadora arquitecto arquitecta
    artista músico música escritor escritora periodista fotógrafo fotógrafa dentista
    farmacéutico farmacéutica veterinario veterinaria psicólogo psicóloga bombero bombera
    policía cajero cajera vendedor vendedora secretario secretaria traductor traductora
    diseñador diseñadora jubilado jubilada peluquero peluquera actor actriz cantante consultor
    consultora jardinero jardinera florista bibliotecario bibliotecaria juez jueza niñera
    cartero cartera carpintero carpintera""".split()
)
# Before a job, these make it a judgement, a past or a wish, not an occupation.
_NOT_JOB_MODIFIERS = frozenset(
    """good bad terrible great awful horrible amazing decent better worse lousy excellent poor
    wannabe aspiring future former ex failed frustrated born natural real total bit fan kind
    sort type little big huge bon bonne mauvais mauvaise ancien ancienne futur future buen
    buena mal mala gran antiguo antigua futuro futura ex""".split()
)
_COMPLEMENT_PREPS = frozenset(
    "at in for with à au aux en dans chez pour de d' del para con".split()
)
_CUTS = frozenset(
    """since and but now too lol so which who depuis maintenant aussi qui que desde hace ahora
    también tambien currently actuellement actualmente""".split()
)
_WORKPLACES_EN = frozenset(
    """hospital school bank restaurant bakery café cafe shop store supermarket factory office
    startup start-up company firm hotel bar pub library university college museum farm clinic
    pharmacy garage lab laboratory airport nonprofit charity agency warehouse kindergarten
    daycare nursery newspaper studio gym salon bookshop bookstore zoo theater theatre cinema
    church council ministry embassy bakery butcher's hairdresser's prison court shelter
    hospice""".split()
)
_WORKPLACES_FR = frozenset(
    """hôpital hopital école ecole banque restaurant boulangerie café magasin supermarché usine
    bureau entreprise startup start-up hôtel hotel bar bibliothèque université musée ferme
    clinique pharmacie garage labo laboratoire aéroport association agence crèche lycée collège
    mairie librairie cinéma théâtre poste resto refuge""".split()
)
_WORKPLACES_ES = frozenset(
    """hospital escuela colegio banco restaurante panadería panaderia cafetería cafeteria tienda
    supermercado fábrica fabrica oficina empresa hotel bar biblioteca universidad museo granja
    clínica clinica farmacia taller laboratorio aeropuerto agencia guardería""".split()
)
_FIELDS_EN = frozenset(
    """IT tech finance marketing sales healthcare education construction retail hospitality
    insurance advertising banking publishing research accounting HR logistics politics fashion
    software engineering consulting law medicine nursing design journalism""".split()
)

# Relations: the word as said -> the relation in slots (English, so slots match across languages).
_RELATIONS_EN = _pairs(
    """mom=mother, mum=mother, mommy=mother, mummy=mother, mama=mother, mother=mother, dad=father,
    daddy=father, papa=father, father=father, sister=sister, sis=sister, brother=brother,
    bro=brother, wife=wife, husband=husband, son=son, daughter=daughter, partner=partner,
    boyfriend=boyfriend, girlfriend=girlfriend, fiancé=fiance, fiance=fiance, fiancée=fiance,
    fiancee=fiance, grandma=grandmother, grandmother=grandmother, granny=grandmother,
    nana=grandmother, grandpa=grandfather, grandfather=grandfather, granddad=grandfather,
    grandad=grandfather, aunt=aunt, auntie=aunt, uncle=uncle, cousin=cousin, niece=niece,
    nephew=nephew, best friend=best_friend, bestie=best_friend, friend=friend,
    roommate=roommate, flatmate=roommate, boss=boss, stepmom=stepmother, stepmother=stepmother,
    stepdad=stepfather, stepfather=stepfather, kid=child, child=child, stepson=son,
    stepdaughter=daughter"""
)
_RELATIONS_FR = _pairs(
    """mère=mother, maman=mother, père=father, papa=father, sœur=sister, soeur=sister,
    frère=brother, femme=wife, mari=husband, fils=son, fille=daughter, copain=boyfriend,
    copine=girlfriend, petit ami=boyfriend, petite amie=girlfriend, compagnon=partner,
    compagne=partner, conjoint=partner, conjointe=partner, fiancé=fiance, fiancée=fiance,
    grand-mère=grandmother, mamie=grandmother, mamy=grandmother, grand-père=grandfather,
    papi=grandfather, papy=grandfather, tante=aunt, oncle=uncle, cousin=cousin, cousine=cousin,
    neveu=nephew, nièce=niece, meilleur ami=best_friend, meilleure amie=best_friend, ami=friend,
    amie=friend, pote=friend, coloc=roommate, colocataire=roommate, patron=boss, patronne=boss"""
)
_RELATIONS_ES = _pairs(
    """madre=mother, mamá=mother, mama=mother, padre=father, papá=father, papa=father,
    hermana=sister, hermano=brother, esposa=wife, esposo=husband, mujer=wife, marido=husband,
    hijo=son, hija=daughter, novio=boyfriend, novia=girlfriend, pareja=partner,
    prometido=fiance, prometida=fiance, abuela=grandmother, abuelo=grandfather, tía=aunt,
    tia=aunt, tío=uncle, tio=uncle, primo=cousin, prima=cousin, sobrino=nephew, sobrina=niece,
    mejor amigo=best_friend, mejor amiga=best_friend, amigo=friend, amiga=friend, jefe=boss,
    jefa=boss"""
)
# One at a time: a new name for these replaces the old. Others (sister, friend) may be several,
# so their slot carries the name too ("person:sister:mia").
_UNIQUE_RELATIONS = frozenset(
    """mother father wife husband partner boyfriend girlfriend fiance best_friend boss
    stepmother stepfather""".split()
)
_REL_ADJ_EN = r"(?:(?:little|big|older|younger|baby|twin|elder|eldest|oldest|youngest|step)\s+)?"
_REL_ADJ_FR = r"(?:(?:petite?|grande?|demi-)\s*)?"
_REL_ADJ_ES = r"(?:\s+(?:mayor|menor|pequeñ[oa]|gemel[oa]))?"

_SPECIES_EN = (
    "dog puppy pup doggo cat kitten kitty parrot bird budgie parakeet canary cockatiel rabbit"
    " bunny hamster gerbil ferret chinchilla rat fish goldfish betta turtle tortoise snake lizard"
    " gecko iguana horse pony pig goat hedgehog axolotl tarantula frog retriever labrador"
    " poodle beagle husky terrier bulldog chihuahua dachshund spaniel collie pug corgi"
    " schnauzer rottweiler greyhound whippet siamese sphynx ragdoll tabby mutt hen chicken"
).split() + ["guinea pig", "german shepherd", "maine coon"]
# French and Spanish species with their article, for "A un chien..." / "Tiene una gata...".
_SPECIES_FR = _pairs(
    """chien=un, chienne=une, chiot=un, chat=un, chatte=une, chaton=un, perroquet=un, oiseau=un,
    lapin=un, lapine=une, hamster=un, cochon d'inde=un, poisson rouge=un, poisson=un,
    tortue=une, serpent=un, cheval=un, jument=une, furet=un, perruche=une, rat=un, hérisson=un,
    poule=une, chèvre=une"""
)
_SPECIES_ES = _pairs(
    """perro=un, perra=una, perrito=un, perrita=una, gato=un, gata=una, gatito=un, gatita=una,
    loro=un, pájaro=un, conejo=un, coneja=una, hámster=un, hamster=un, pez=un, tortuga=una,
    serpiente=una, caballo=un, yegua=una, hurón=un, periquito=un, cobaya=una, conejillo de
    indias=un"""
)
_PET_ADJ_EN = (
    r"(?:(?:little|small|big|old|young|new|cute|fat|lazy|black|white|grey|gray|brown|orange"
    r"|ginger|tabby|fluffy|sweet|rescue|rescued|baby|tiny|giant|adorable|beautiful|pet|golden"
    r"|french|english|jack\s+russell|border|cocker)\s+){0,2}"
)
_COUNTS_EN = {"a": "a", "an": "an", "one": "a", "two": "two", "three": "three", "four": "four"}

_MONTHS_EN = _numbered(
    """january=1, jan=1, february=2, feb=2, march=3, mar=3, april=4, apr=4, may=5, june=6, jun=6,
    july=7, jul=7, august=8, aug=8, september=9, sept=9, sep=9, october=10, oct=10, november=11,
    nov=11, december=12, dec=12"""
)
_MONTH_NAMES_EN = (
    "January February March April May June July August September October November December"
).split()
_MONTHS_FR = _numbered(
    """janvier=1, février=2, fevrier=2, mars=3, avril=4, mai=5, juin=6, juillet=7, août=8, aout=8,
    septembre=9, octobre=10, novembre=11, décembre=12, decembre=12"""
)
_MONTH_NAMES_FR = (
    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre"
).split()
_MONTHS_ES = _numbered(
    """enero=1, febrero=2, marzo=3, abril=4, mayo=5, junio=6, julio=7, agosto=8, septiembre=9,
    setiembre=9, octubre=10, noviembre=11, diciembre=12"""
)
_MONTH_NAMES_ES = (
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre"
).split()
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _alternation(words: Iterable[str]) -> str:
    """A regex alternation of words, longest first (so "best friend" wins over "friend")."""
    ordered = sorted(words, key=len, reverse=True)
    return "(?:" + "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in ordered) + ")"


_MONTH_EN_RE = _alternation(_MONTHS_EN)
_DATE_EN = (
    rf"(?:(?P<m1>{_MONTH_EN_RE})\.?\s+(?:the\s+)?(?P<d1>\d{{1,2}})(?:st|nd|rd|th)?"
    rf"|(?:the\s+)?(?P<d2>\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?\s+(?P<m2>{_MONTH_EN_RE})\b\.?)"
    r"(?:\s+(?P<y>(?:19|20)\d{2}))?\b"
)
_DATE_FR = (
    rf"(?P<d1>1er|\d{{1,2}})\s+(?P<m1>{_alternation(_MONTHS_FR)})(?:\s+(?P<y>(?:19|20)\d{{2}}))?\b"
)
_DATE_ES = (
    rf"(?P<d1>\d{{1,2}})\s+de\s+(?P<m1>{_alternation(_MONTHS_ES)})"
    r"(?:\s+de(?:l)?\s+(?P<y>(?:19|20)\d{2}))?\b"
)


# --- small helpers --------------------------------------------------------------------------------


# Words after which an object has ended: "penicillin so please remind me", "cats lol which".
_OBJECT_END = re.compile(
    r"\s+(?:so|which|since|cuz|coz|cos|lol|lmao|haha\w*|mdr|ptdr|tbh|ngl|btw|depuis|desde"
    r"|for\s+(?:years|ages|a\s+long\s+time|(?:\d+|two|three|four|five|ten|many)\s+years))\b.*$",
    re.IGNORECASE | re.DOTALL,
)


def _clean(obj: str) -> str:
    """The object without trailing fillers, emoticons and punctuation."""
    previous = None
    obj = _OBJECT_END.sub("", obj.strip())
    while previous != obj:
        previous = obj
        obj = _EMOTICON_TAIL.sub("", obj)
        obj = _FILLER_TAIL.sub("", obj)
        obj = re.sub(r"^[^\w¿¡]+|[^\w)]+$", "", obj).strip()
    return obj


def _thing(obj: str) -> str:
    """The slot key of a liked or disliked thing: lowercase, without its article."""
    return re.sub(r"\s+", " ", _ARTICLES.sub("", obj.lower())).strip()[:_SLOT_MAX]


def _first_word(obj: str) -> str:
    words = re.findall(r"[\w'’-]+", obj.lower())
    return words[0] if words else ""


# "people who chew loudly", "les gens qui parlent fort au téléphone": a kind of person, said with
# a relative clause, may take a few more words.
_PEOPLE_WHO = re.compile(
    r"^(?:the\s+|les\s+)?(?:people|guys|men|women|those|gens|personnes|ceux|celles|mecs)"
    r"\s+(?:who|that|qui)\b",
    re.IGNORECASE,
)


def _acceptable_object(obj: str, max_words: int = 6) -> bool:
    """A liked, disliked or feared thing worth remembering: short, concrete, not about the cat."""
    words = obj.split()
    if _PEOPLE_WHO.match(obj):
        max_words += 3
    if not words or len(words) > max_words or _ABOUT_THE_CAT.search(obj):
        return False
    first = _first_word(obj)
    if first in _VAGUE_FIRST or first.split("'")[0] in {"it", "that", "what"}:
        return False
    return not (first == "to" and len(words) > 1 and words[1].lower() in _VAGUE_INFINITIVE)


def _is_capitalised(word: str) -> bool:
    return bool(word) and word[0].isupper()


def _name(obj: str, *, clause: _Clause, lenient: bool, whole: bool) -> str | None:
    """A person's or pet's name at the start of `obj` (one or two words), or None.

    `lenient`: a lowercase name passes when the human writes without capitals at all ("my name is
    sam"). `whole`: the name must be all that is left of the clause ("I'm Sam", not "I'm Sam's
    mom").
    """
    cleaned = _clean(obj) if whole else obj.strip()
    tokens = re.findall(r"\S+", cleaned)
    if not tokens:
        return None
    words: list[str] = []
    for i, token in enumerate(tokens[:2]):
        word = token.rstrip(".,!?;:")
        if not re.fullmatch(r"[^\W\d_][\w'’-]*", word) or re.search(r"['’]s$", word):
            break
        if word.lower() in _NOT_NAMES or word.lower().endswith("ing"):
            break
        if not _is_capitalised(word) and not (lenient and clause.lowercase and i == 0):
            break
        words.append(word)
    if not words or (whole and len(words) != len(tokens)):
        return None
    if whole and len(tokens) > 2:
        return None
    return " ".join(w[0].upper() + w[1:] for w in words)


_PLACE_CONNECTORS = frozenset("de del da do of on upon sur la le los las el du des & y".split())
# Capitalised words that end or void a place name ("in Lyon I think", "in March").
_NOT_PLACES = frozenset(
    """i i'm im i've i'd i'll i’m and but or because so here there home work school now today
    tomorrow tonight yesterday monday tuesday wednesday thursday friday saturday sunday""".split()
) | frozenset(_MONTHS_EN)


def _place(obj: str, *, max_words: int = 5) -> str | None:
    """The proper name of a place or organisation at the start of `obj` ("the UK", "New York",
    "Rio de Janeiro"), or None when it does not start with one ("a small village")."""
    tokens = obj.split()
    out: list[str] = []
    i = 0
    if tokens and tokens[0].lower() in {"the", "l'", "l’"}:
        out.append(tokens[0])
        i = 1
    names = 0
    while i < len(tokens) and len(out) < max_words:
        token = re.sub(r"[^\w'’.&-]+$", "", tokens[i])
        if token.lower() in _NOT_PLACES:
            break
        if _is_capitalised(token) and not any(c.isdigit() for c in token):
            out.append(token.rstrip("."))
            names += 1
        elif (
            token.lower() in _PLACE_CONNECTORS
            and names
            and i + 1 < len(tokens)
            and _is_capitalised(tokens[i + 1])
        ):
            out.append(token)
        else:
            break
        if token != tokens[i]:
            break  # punctuation ended it
        i += 1
    if not names:
        return None
    return " ".join(out)


# "a tiny village near Cork", "un petit village près de Quimper": a kind of place placed by a name.
_NEAR_PLACE = re.compile(
    r"^(?P<what>(?:(?:a|an|the|un|une|la|le)\s+|l['’]\s*)(?:[\w'’-]+\s+){0,2}?"
    r"(?:village|town|city|suburb|hamlet|island|farm|area|neighbou?rhood|part|corner|ville|bled"
    r"|patelin|coin|quartier|banlieue|campagne|île|hameau|ferme|région)"
    r"(?:\s+(?:petite?|perdue?|paumée?|tranquille|pr[eè]s|loin))?\s+"
    r"(?:near|outside(?:\s+of)?|just\s+outside(?:\s+of)?|close\s+to|not\s+far\s+from"
    r"|(?:north|south|east|west)\s+of|in|on|of|près\s+(?:de|d['’])|à\s+côté\s+(?:de|d['’])"
    r"|pas\s+loin\s+(?:de|d['’])|du\s+côté\s+(?:de|d['’])|dans|en|à|au|de|d['’])\s*)"
    r"(?P<rest>.+)$",
    re.IGNORECASE,
)


def _home_place(obj: str) -> str | None:
    """A place's proper name (see _place) or a kind of place by one ("a village near Cork")."""
    place = _place(obj)
    if place is not None:
        return place
    m = _NEAR_PLACE.match(obj.strip())
    if m is None:
        return None
    named = _place(m.group("rest"))
    if named is None:
        return None
    what = _squash(m.group("what")).strip()
    joiner = "" if what.endswith(("'", "’")) else " "
    return f"{what}{joiner}{named}"


def _job(obj: str, jobs: frozenset[str]) -> str | None:
    """An occupation at the start of `obj`: up to two plain modifiers, a known job, and maybe
    where ("teacher at a primary school"). None for "a big fan of jazz" or "a terrible cook"."""
    tokens = obj.split()
    for j, token in enumerate(tokens[:3]):
        if token.lower().rstrip(".,!") in jobs:
            head = j
            break
    else:
        return None
    modifiers = [t.lower() for t in tokens[:head]]
    if any(m in _NOT_JOB_MODIFIERS or not m.isalpha() for m in modifiers):
        return None
    kept = tokens[: head + 1]
    rest = tokens[head + 1 :]
    if rest and rest[0].lower() in _COMPLEMENT_PREPS:
        complement: list[str] = []
        for token in rest[1:9]:
            if token.lower() in _CUTS or any(c.isdigit() for c in token):
                break
            complement.append(token)
            if re.search(r"[,;:!?]$", token):
                break
        complement = _whole_places(complement, rest[1 + len(complement) :])
        if complement:
            kept += [rest[0], *complement]
    elif rest and rest[0].lower() not in _CUTS:
        return None  # "a teacher type", "a nurse shark"
    return _clean(" ".join(kept))


def _whole_places(kept: list[str], after: list[str]) -> list[str]:
    """`kept` words of a complement, ending neither inside a place name ("à Saint-Étienne",
    "in New York City") nor on a dangling preposition or article ("dans un lycée à")."""
    if kept and not re.search(r"[,;:!?.]$", kept[-1]):
        tail_start = len(kept)
        while tail_start and _is_capitalised(kept[tail_start - 1]):
            tail_start -= 1
        if tail_start < len(kept) or kept[-1].lower() in _COMPLEMENT_PREPS | _PLACE_CONNECTORS:
            place = _place(" ".join(kept[tail_start:] + after), max_words=6)
            if place:
                kept = kept[:tail_start] + place.split()
    while kept and re.sub(r"[^\w'’]", "", kept[-1]).lower() in (
        _COMPLEMENT_PREPS | _PLACE_CONNECTORS | {"un", "une", "a", "an", "the", "l'", "l’"}
    ):
        kept = kept[:-1]
    return kept


def _free_job(obj: str) -> str:
    """What follows "I work as": up to a word that starts something else ("since", a number)."""
    kept: list[str] = []
    for token in obj.split():
        if token.lower() in _CUTS or any(c.isdigit() for c in token):
            break
        kept.append(token)
    return _clean(" ".join(kept))


def _workplace(obj: str, nouns: frozenset[str]) -> str | None:
    """An employer ("Google", "the BBC") or a kind of workplace ("a hospital", "une banque")."""
    place = _place(obj)
    if place:
        return place
    article = re.match(r"(?:(?:the|an|a|une|un|le|la|el|los|las|una)\s+|l['’]\s*)", obj, re.I)
    if article is None:
        return None
    words = re.findall(r"\S+", obj[article.end() :])
    for n in range(1, min(3, len(words)) + 1):
        if words[n - 1].lower().rstrip(".,!") in nouns:
            return _clean(article.group() + " ".join(words[:n]))
    return None


def _date_en(m: re.Match[str]) -> tuple[int, int, str | None] | None:
    month_word = (m.group("m1") or m.group("m2") or "").lower().rstrip(".")
    day = int(m.group("d1") or m.group("d2") or 0)
    month = _MONTHS_EN.get(month_word, 0)
    return _valid_date(month, day, m.group("y"))


def _valid_date(month: int, day: int, year: str | None) -> tuple[int, int, str | None] | None:
    if not 1 <= month <= 12 or not 1 <= day <= _DAYS_IN_MONTH[month - 1]:
        return None
    return month, day, year


def _squash(text: str) -> str:
    """Lowercase, with single spaces."""
    return re.sub(r"\s+", " ", text.lower())


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _lower_start(obj: str, clause: _Clause, m: re.Match[str]) -> str:
    """A subject that opens the sentence ("Thunderstorms scare me") loses its capital."""
    if clause.sentence_start and m.start() == 0 and obj[:1].isupper() and obj[1:2].islower():
        return obj[:1].lower() + obj[1:]
    return obj


# "Them" in "spiders everywhere. I'm terrified of them": the last plural noun said before.
_PRONOUN_OBJECTS = frozenset({"them", "those", "les"})
_NOT_ANTECEDENTS = frozenset(
    """is was has does yes always us its his hers ours yours theirs years days times things guys
    lots plus less unless thanks this perhaps sometimes hours weeks months minutes seconds
    friends parents kids pets""".split()
)


def _antecedent(obj: str, clause: _Clause) -> str:
    """`obj`, or what "them" stands for when the message named it just before."""
    words = obj.split()
    if not words or words[0].lower() not in _PRONOUN_OBJECTS:
        return obj
    candidates = [
        w
        for w in re.findall(r"\b[^\W\d_][\w'’-]{2,}s\b", clause.before.lower())
        if w not in _NOT_ANTECEDENTS and not w.endswith(("'s", "’s", "ss", "us"))
    ]
    return " ".join([candidates[-1], *words[1:]]) if candidates else obj


# --- rules ----------------------------------------------------------------------------------------

_RULES: list[_Rule] = []


def _rule(pattern: str, *, claims: bool = True) -> Callable[[_Build], _Build]:
    def register(build: _Build) -> _Build:
        _RULES.append(_Rule(re.compile(pattern, re.IGNORECASE), build, claims))
        return build

    return register


# Likes and dislikes. Dislikes first: "j'aime pas" must not become a like.

_DISLIKE_EN = {
    "hate": "Hates",
    "dislike": "Dislikes",
    "detest": "Detests",
    "loathe": "Loathes",
    "can't stand": "Can't stand",
    "can’t stand": "Can't stand",
    "cannot stand": "Can't stand",
}


@_rule(rf"\bI\s+{_ADV}(?:don{_A}?t|do\s+not)\s+{_ADV}(?P<verb>like|enjoy|care\s+for)\s+(?P<obj>.+)")
def _dont_like(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj"))
    if not _acceptable_object(obj):
        return None
    verb = re.sub(r"\s+", " ", m.group("verb").lower())
    return _Draft(f"Doesn't {verb} {obj}", "preference", 3, f"dislike:{_thing(obj)}")


@_rule(
    rf"{_I_OR_BARE}{_ADV}(?P<verb>hate|dislike|detest|loathe|can{_A}t\s+stand|cannot\s+stand)"
    r"\s+(?P<obj>.+)"
)
def _hate(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj"))
    if not _acceptable_object(obj):
        return None
    verb = _DISLIKE_EN[re.sub(r"\s+", " ", m.group("verb").lower())]
    return _Draft(f"{verb} {obj}", "preference", 3, f"dislike:{_thing(obj)}")


@_rule(
    r"\bje\s+(?:n['’]\s*|ne\s+)?(?P<verb>aime|supporte)\s+pas\s+(?:du\s+tout\s+|trop\s+|vraiment\s+)?"
    r"(?P<obj>.+)"
    r"|\bj['’]\s*(?P<verb2>aime|supporte)\s+pas\s+(?:du\s+tout\s+|trop\s+)?(?P<obj2>.+)"
)
def _naime_pas(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj") or m.group("obj2"))
    if not _acceptable_object(obj):
        return None
    verb = (m.group("verb") or m.group("verb2")).lower()
    lead = "N'" if verb[0] in "aeiouéè" else "Ne "
    return _Draft(f"{lead}{verb} pas {obj}", "preference", 3, f"dislike:{_thing(obj)}")


@_rule(r"\bje\s+(?P<verb>déteste|deteste|hais)\s+(?P<obj>.+)")
def _deteste(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj"))
    if not _acceptable_object(obj):
        return None
    verb = "Hait" if m.group("verb").lower() == "hais" else "Déteste"
    return _Draft(f"{verb} {obj}", "preference", 3, f"dislike:{_thing(obj)}")


@_rule(r"\bno\s+me\s+(?P<verb>gusta|gustan)\s+(?:nada\s+|mucho\s+)?(?P<obj>.+)")
def _no_me_gusta(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj"))
    if not _acceptable_object(obj):
        return None
    return _Draft(
        f"No le {m.group('verb').lower()} {obj}", "preference", 3, f"dislike:{_thing(obj)}"
    )


@_rule(_ES_LEAD + r"odio\s+(?P<obj>.+)")
def _odio(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj"))
    if not _acceptable_object(obj):
        return None
    return _Draft(f"Odia {obj}", "preference", 3, f"dislike:{_thing(obj)}")


_LIKE_EN = {"love": "Loves", "like": "Likes", "adore": "Adores", "enjoy": "Enjoys"}


@_rule(
    rf"(?:\bI\s+{_ADV}(?P<verb>love|like|adore|enjoy)|{_LEAD_EN}(?P<bare>)(?P<verb2>love|adore))\s+(?P<obj>.+)"
)
def _like(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(_antecedent(m.group("obj"), clause))
    if not _acceptable_object(obj):
        return None
    verb = _LIKE_EN[(m.group("verb") or m.group("verb2")).lower()]
    return _Draft(f"{verb} {obj}", "preference", 3, f"like:{_thing(obj)}")


@_rule(
    rf"{_I_AM_OR_BARE}{_ADV}(?:(?:(?:a|an)\s+)?(?:(?:big|huge|great|massive)\s+)?fan\s+of"
    r"|(?P<into>into)|(?P<passion>passionate\s+about|obsessed\s+with|addicted\s+to))"
    r"\s+(?P<obj>.+)"
)
def _fan_of(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj"))
    if not _acceptable_object(obj):
        return None
    if m.group("into"):
        text = f"Is into {obj}"
    elif m.group("passion"):
        text = f"Is {_squash(m.group('passion'))} {obj}"
    else:
        text = f"Is a fan of {obj}"
    return _Draft(text, "preference", 3, f"like:{_thing(obj)}")


_FAN_ADJ = r"(?:big|huge|massive|great|die[\s-]?hard|lifelong|total|proper|real|true|hardcore)"


@_rule(
    rf"{_I_AM_OR_BARE}{_ADV}(?:a|an)\s+(?:{_FAN_ADJ}\s+)*"
    rf"(?P<obj>(?!{_FAN_ADJ}\b)[^\W\d_][\w'’&.-]*(?:\s+[\w'’&.-]+){{0,2}}?)"
    r"\s+(?P<noun>fan|supporter|nerd|geek|buff|addict|lover|enthusiast|fanatic)\b(?!\s+of\b)"
)
def _a_thing_fan(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = m.group("obj")
    if not _acceptable_object(obj, max_words=3) or _first_word(obj) in _NOT_HOBBIES:
        return None
    noun = m.group("noun").lower()
    article = "an" if obj[0].lower() in "aeiou" else "a"
    return _Draft(f"Is {article} {obj} {noun}", "preference", 3, f"like:{_thing(obj)}")


@_rule(
    r"\bmy\s+(?P<fav>favou?rite|fave?)\s+(?P<kind>[a-z]+(?:\s+[a-z]+)?)\s+is\s+(?P<obj>.+)"
    r"|^(?P<obj2>[\w'’ -]+?)\s+is\s+my\s+(?P<fav2>favou?rite|fave?)"
    r"\s+(?P<kind2>[a-z]+(?:\s+[a-z]+)?)$"
)
def _favourite(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj") or m.group("obj2"))
    kind = _clean(m.group("kind") or m.group("kind2")).lower()
    if not _acceptable_object(obj, max_words=5) or _first_word(kind) in _VAGUE_FIRST:
        return None
    if m.group("obj2"):
        obj = _lower_start(obj, clause, m)
    fav = _cap((m.group("fav") or m.group("fav2")).lower())
    fav = "Favourite" if fav in {"Fav", "Fave"} else fav
    return _Draft(f"{fav} {kind} is {obj}", "preference", 3, f"favorite:{kind}"[:_SLOT_MAX])


@_rule(
    r"\bj['’]\s*(?P<verb>aime|adore)\s+(?:(?:bien|beaucoup|vraiment|trop|énormément|tellement"
    r"|vachement|aussi|grave)\s+)*(?P<obj>.+)"
)
def _jaime(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj"))
    if not _acceptable_object(obj):
        return None
    verb = _cap(m.group("verb").lower())
    return _Draft(f"{verb} {obj}", "preference", 3, f"like:{_thing(obj)}")


@_rule(
    r"(?:\bje\s+|\bj['’]\s*)suis\s+(?:(?:très|trop|vraiment)\s+)?(?P<what>fan|passionnée?)\s+"
    r"(?P<prep>de\s+la|de\s+l['’]|des|du|de|d['’])\s*(?P<obj>.+)"
)
def _fan_fr(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj"))
    if not _acceptable_object(obj):
        return None
    prep = re.sub(r"\s+", " ", m.group("prep").lower())
    joiner = "" if prep.endswith(("'", "’")) else " "
    text = f"Est {m.group('what').lower()} {prep}{joiner}{obj}"
    return _Draft(text, "preference", 3, f"like:{_thing(obj)}")


@_rule(
    r"\bme\s+(?P<verb>gusta|gustan|encanta|encantan|fascina|fascinan)\s+"
    r"(?:(?:mucho|muchísimo|bastante|un\s+montón)\s+)?(?P<obj>.+)"
)
def _me_gusta(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj"))
    if not _acceptable_object(obj):
        return None
    return _Draft(f"Le {m.group('verb').lower()} {obj}", "preference", 3, f"like:{_thing(obj)}")


@_rule(_ES_LEAD + r"(?P<verb>amo|adoro)\s+(?P<obj>.+)")
def _amo(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj"))
    if not _acceptable_object(obj):
        return None
    verb = "Ama" if m.group("verb").lower() == "amo" else "Adora"
    return _Draft(f"{verb} {obj}", "preference", 3, f"like:{_thing(obj)}")


# Fears.


@_rule(
    rf"{_I_AM_OR_BARE}{_ADV}(?P<adj>scared|afraid|frightened|terrified|petrified)\s+(?:of|by)"
    r"\s+(?P<obj>.+)"
)
def _afraid(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(_antecedent(m.group("obj"), clause))
    if not _acceptable_object(obj):
        return None
    return _Draft(f"Is {m.group('adj').lower()} of {obj}", "health", 4, None)


@_rule(
    _I_HAVE + r"\s+an?\s+(?:(?:real|huge|big|terrible|irrational)\s+)?"
    r"(?P<what>fear|phobia)\s+of\s+(?P<obj>.+)"
)
def _phobia(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj"))
    if not _acceptable_object(obj):
        return None
    return _Draft(f"Has a {m.group('what').lower()} of {obj}", "health", 4, None)


@_rule(r"^(?P<obj>[^\W\d_][\w'’ -]*?)\s+(?:really\s+)?(?:scares?|terrif(?:y|ies)|frightens?)\s+me$")
def _scares_me(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj"))
    if not _acceptable_object(obj, max_words=4) or _first_word(obj) in _NOT_NAMES - {"cold"}:
        return None
    return _Draft(f"Is afraid of {_lower_start(obj, clause, m)}", "health", 4, None)


@_rule(
    r"\bj['’]ai\s+(?:(?:très|trop|vraiment|tellement|super|grave)\s+)?"
    r"(?P<what>peur|une\s+peur\s+bleue|la\s+trouille|la\s+frousse|la\s+phobie|horreur)\s+"
    r"(?P<prep>des|du|de\s+la|de\s+l['’]|de|d['’])\s*(?P<obj>.+)"
)
def _peur(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj"))
    if not _acceptable_object(obj):
        return None
    prep = re.sub(r"\s+", " ", m.group("prep").lower())
    joiner = "" if prep.endswith(("'", "’")) else " "
    return _Draft(f"A {_squash(m.group('what'))} {prep}{joiner}{obj}", "health", 4, None)


@_rule(
    r"\btengo\s+(?:(?:mucho|muchísimo|bastante)\s+)?miedo\s+"
    r"(?P<prep>a\s+los|a\s+las|a\s+la|al|a|de\s+los|de\s+las|de\s+la|del|de)\s+(?P<obj>.+)"
    r"|\bme\s+(?P<verb>dan|da)\s+(?:mucho\s+)?miedo\s+(?P<obj2>.+)"
)
def _miedo(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj") or m.group("obj2"))
    if not _acceptable_object(obj):
        return None
    if m.group("obj2"):
        return _Draft(f"Le {m.group('verb').lower()} miedo {obj}", "health", 4, None)
    prep = re.sub(r"\s+", " ", m.group("prep").lower())
    return _Draft(f"Tiene miedo {prep} {obj}", "health", 4, None)


# Health, allergies and diet.

_CONDITIONS_EN = (
    r"asthma|diabetes|type\s+[12]\s+diabetes|epilepsy|celiac\s+disease|coeliac\s+disease"
    r"|migraines|arthritis|adhd|autism|dyslexia|a\s+heart\s+condition|hay\s+fever|eczema"
    r"|lupus|crohn['’]s(?:\s+disease)?|insomnia"
)


@_rule(
    rf"{_I_AM_OR_BARE}{_ADV}(?:allergic)\s+to\s+(?P<obj>.+)"
    rf"|{_I_HAVE}\s+an?\s+(?:(?:severe|bad|serious|mild)\s+)?"
    r"(?:(?P<obj2>[\w-]+(?:\s+[\w-]+)?)\s+allergy|allergy\s+to\s+(?P<obj3>.+))$"
)
def _allergic(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj") or m.group("obj2") or m.group("obj3"))
    if not _acceptable_object(obj, max_words=4):
        return None
    if m.group("obj2"):
        return _Draft(f"Has a {obj} allergy", "health", 5, None)
    return _Draft(f"Is allergic to {obj}", "health", 5, None)


_CONDITION_SUBJECTS_EN = (
    r"asthma|diabetes|epilepsy|migraines|arthritis|adhd|eczema|psoriasis|hay\s+fever|allergies"
    r"|insomnia|anxiety|depression|back\s+pain|sciatica|tinnitus|ibs|endometriosis|acne"
    r"|crohn['’]s|lupus|rosacea"
)


@_rule(
    rf"(?:{_LEAD_EN}(?P<bare>)|\bmy\s+)(?P<what>{_CONDITION_SUBJECTS_EN})(?:{_A}s|\s+is|\s+are"
    rf"|\s+has|\s+have)?\s+(?:been\s+)?{_ADV}(?:bad|awful|terrible|horrible|worse|killing\s+me"
    r"|playing\s+up|acting\s+up|flaring(?:\s+up)?|back|getting\s+worse|out\s+of\s+control"
    r"|a\s+nightmare|rough)\b"
)
def _condition_as_subject(m: re.Match[str], clause: _Clause) -> _Draft | None:
    what = _squash(m.group("what"))
    what = "ADHD" if what == "adhd" else "IBS" if what == "ibs" else what
    return _Draft(f"Has {what}", "health", 4, None)


@_rule(rf"(?:{_I_HAVE}|\bI\s+suffer\s+from)\s+(?P<what>{_CONDITIONS_EN})\b")
def _condition(m: re.Match[str], clause: _Clause) -> _Draft | None:
    what = re.sub(r"\s+", " ", m.group("what"))
    what = "ADHD" if what.lower() == "adhd" else what
    return _Draft(f"Has {what}", "health", 4, None)


@_rule(
    rf"{_I_AM_OR_BARE}(?:(?:a|an|strictly|fully|completely|also)\s+)*"
    r"(?P<what>vegetarian|vegan|pescatarian|lactose[\s-]+intolerant|gluten[\s-]+intolerant"
    r"|celiac|coeliac|diabetic|epileptic|asthmatic)\b"
)
def _diet_en(m: re.Match[str], clause: _Clause) -> _Draft | None:
    what = re.sub(r"\s+", " ", m.group("what").lower())
    if what in {"vegetarian", "vegan", "pescatarian"}:
        return _Draft(f"Is {what}", "preference", 4, "diet")
    return _Draft(f"Is {what}", "health", 4, None)


@_rule(
    r"(?:\bje\s+|\bj['’]\s*)suis\s+(?:(?:très|vraiment)\s+)?allergique\s+"
    r"(?P<prep>aux|au|à\s+la|à\s+l['’]|à|a)\s*(?P<obj>.+)"
    r"|\bj['’]ai\s+une\s+allergie\s+(?P<prep2>aux|au|à\s+la|à\s+l['’]|à|a)\s*(?P<obj2>.+)"
)
def _allergique(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj") or m.group("obj2"))
    if not _acceptable_object(obj, max_words=4):
        return None
    prep = re.sub(r"\s+", " ", (m.group("prep") or m.group("prep2")).lower())
    prep = "à" if prep == "a" else prep
    joiner = "" if prep.endswith(("'", "’")) else " "
    lead = "Est allergique" if m.group("obj") else "A une allergie"
    return _Draft(f"{lead} {prep}{joiner}{obj}", "health", 5, None)


@_rule(
    r"(?:\bje\s+|\bj['’]\s*)suis\s+(?P<what>végétarienne?|vegetarienne?|végétalienne?|vegan|végane?|vegane?"
    r"|diabétique|cœliaque|coeliaque|asthmatique|épileptique|intolérante?\s+au\s+(?:lactose|gluten))"
    r"(?!\w)"
    r"|\bj['’]ai\s+(?P<has>de\s+l['’]asthme|du\s+diabète|de\s+l['’]épilepsie)"
)
def _diet_fr(m: re.Match[str], clause: _Clause) -> _Draft | None:
    if m.group("has"):
        return _Draft("A " + _squash(m.group("has")), "health", 4, None)
    what = re.sub(r"\s+", " ", m.group("what").lower())
    if what.startswith(("vég", "veg")):
        return _Draft(f"Est {what}", "preference", 4, "diet")
    return _Draft(f"Est {what}", "health", 4, None)


@_rule(
    _ES_LEAD + r"soy\s+(?:muy\s+)?al[ée]rgic(?P<g>[oa])\s+(?P<prep>a\s+los|a\s+las|a\s+la|al|a)"
    r"\s+(?P<obj>.+)"
)
def _alergico(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj"))
    if not _acceptable_object(obj, max_words=4):
        return None
    prep = re.sub(r"\s+", " ", m.group("prep").lower())
    return _Draft(f"Es alérgic{m.group('g').lower()} {prep} {obj}", "health", 5, None)


@_rule(r"\btengo\s+alergia\s+(?P<prep>a\s+los|a\s+las|a\s+la|al|a)\s+(?P<obj>.+)")
def _alergia(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj"))
    if not _acceptable_object(obj, max_words=4):
        return None
    prep = re.sub(r"\s+", " ", m.group("prep").lower())
    return _Draft(f"Tiene alergia {prep} {obj}", "health", 5, None)


@_rule(
    _ES_LEAD + r"soy\s+(?P<what>vegetarian[oa]|vegan[oa]|celíac[oa]|celiac[oa]|diabétic[oa]"
    r"|diabetic[oa]|intolerante\s+a\s+la\s+lactosa)\b"
    r"|\btengo\s+(?P<has>asma|diabetes|epilepsia)\b"
)
def _diet_es(m: re.Match[str], clause: _Clause) -> _Draft | None:
    if m.group("has"):
        return _Draft(f"Tiene {m.group('has').lower()}", "health", 4, None)
    what = re.sub(r"\s+", " ", m.group("what").lower())
    if what.startswith("veg"):
        return _Draft(f"Es {what}", "preference", 4, "diet")
    return _Draft(f"Es {what}", "health", 4, None)


# Needs, negations and habits, often said without "I" ("can't have caffeine after 2pm").


@_rule(
    rf"(?:\bI(?:{_A}ve|\s+have)?\s+|{_LEAD_EN}(?P<bare>)){_ADV}(?P<verb>quit|stopped|gave\s+up"
    r"|given\s+up)\s+(?P<what>smoking|drinking|vaping|alcohol|booze|cigarettes|caffeine|sugar"
    r"|meat|weed)\b"
    r"|\bj['’]\s*ai\s+(?:(?:complètement|enfin|définitivement)\s+)?(?:arrêté|arrete|arrêter)"
    r"\s+(?P<what2>de\s+fumer|de\s+boire|de\s+vapoter|la\s+clope|les\s+clopes|la\s+cigarette"
    r"|le\s+tabac|l['’]\s*alcool|le\s+sucre|la\s+viande|la\s+caféine)"
)
def _quit(m: re.Match[str], clause: _Clause) -> _Draft | None:
    if m.group("what2"):
        return _Draft(f"A arrêté {_squash(m.group('what2'))}", "health", 4, None)
    verb = "Gave up" if "up" in m.group("verb").lower() else _cap(m.group("verb").lower())
    return _Draft(f"{verb} {m.group('what').lower()}", "health", 4, None)


_DIET_WORDS_EN = (
    r"dairy|lactose|gluten|meat|pork|beef|alcohol|booze|sugar|caffeine|nuts|peanuts|shellfish"
    r"|seafood|eggs|fish|wheat|carbs"
)
_DIET_WORDS_FR = (
    r"lactose|gluten|viande|porc|bœuf|boeuf|alcool|sucre|caféine|cafeine|arachides|cacahuètes"
    r"|fruits\s+de\s+mer|crustacés|oeufs|œufs|produits\s+laitiers|laitages|poisson|blé"
)
_NOT_NOW = r"(?!\s+(?:tonight|today|this|right|now|ce\s+soir|aujourd['’]hui|cette|ce\s+midi))"


@_rule(
    rf"{_LEAD_EN}(?:no|zero)\s+(?P<what>{_DIET_WORDS_EN})\s+for\s+me\b{_NOT_NOW}"
    rf"|{_LEAD_FR}(?:pas|zéro|zero)\s+(?P<prep>de|d['’])\s*(?P<what2>{_DIET_WORDS_FR})"
    rf"\s+pour\s+moi\b{_NOT_NOW}"
)
def _none_for_me(m: re.Match[str], clause: _Clause) -> _Draft | None:
    if m.group("what2"):
        prep = m.group("prep").lower()
        joiner = "" if prep.endswith(("'", "’")) else " "
        return _Draft(f"Pas {prep}{joiner}{_squash(m.group('what2'))}", "health", 4, None)
    return _Draft(f"Avoids {m.group('what').lower()}", "health", 4, None)


_NOT_FOODS = frozenset(
    """a an any anything anymore after before at in on until much more enough too that this it
    them right now today tonight for with like properly another one all everything so
    anymore""".split()
)


@_rule(
    rf"{_I_OR_BARE}{_ADV}(?P<neg>can{_A}?t|cannot|can\s+not|don{_A}?t|do\s+not|never)\s+{_ADV}"
    r"(?P<verb>eat|drink|have|digest|tolerate)\s+(?P<obj>.+)"
)
def _cant_eat(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj"))
    verb = m.group("verb").lower()
    can = m.group("neg").lower().startswith("can")
    if not _acceptable_object(obj, max_words=5) or _first_word(obj) in _NOT_FOODS:
        return None
    if verb in {"have", "digest", "tolerate"} and not can:
        return None  # "I don't have a dog" is not a diet
    if m.group("bare") is not None and not can:
        return None  # "don't eat that" / "never eat yellow snow": advice, not a diet
    if can:
        return _Draft(f"Can't {verb} {obj}", "health", 5, None)
    if m.group("neg").lower() == "never":
        return _Draft(f"Never {verb}s {obj}", "preference", 4, None)
    return _Draft(f"Doesn't {verb} {obj}", "preference", 4, None)


@_rule(
    rf"{_I_AM_OR_BARE}{_ADV}(?P<what>gluten|dairy|lactose|nut|sugar|meat|alcohol)[\s-]+free"
    r"(?=\s*$|\s+(?:now|since|for|too|lol|not|by|because|so|and|but|btw|tbh)\b)"
)
def _free_of(m: re.Match[str], clause: _Clause) -> _Draft | None:
    return _Draft(f"Is {m.group('what').lower()}-free", "health", 4, None)


@_rule(
    rf"{_I_AM_OR_BARE}{_ADV}not\s+(?:(?P<fan>(?:a\s+)?(?:(?:big|huge|great)\s+)?fan\s+of)"
    r"|(?:a|an)\s+(?P<person>morning|night|people|dog|cat|beach|party)\s+person\b)\s*(?P<obj>.*)"
)
def _not_a_fan(m: re.Match[str], clause: _Clause) -> _Draft | None:
    if m.group("person"):
        return _Draft(f"Is not a {m.group('person').lower()} person", "preference", 3, None)
    obj = _clean(m.group("obj"))
    if not _acceptable_object(obj):
        return None
    return _Draft(f"Is not a fan of {obj}", "preference", 3, f"dislike:{_thing(obj)}")


@_rule(
    rf"\bI\s+{_ADV}need\s+(?:to\s+(?P<verb>sleep|eat|drink|run|walk)\s+)?(?P<obj>(?:at\s+least\s+)?"
    r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten)\s+(?:hours?|cups?|coffees?|litres?"
    r"|liters?|glasses|meals|km|miles)(?:\s+of\s+\w+)?(?:\s+(?:a|per|every)\s+\w+)?)"
)
def _need(m: re.Match[str], clause: _Clause) -> _Draft | None:
    verb = f"to {m.group('verb').lower()} " if m.group("verb") else ""
    return _Draft(f"Needs {verb}{_clean(m.group('obj'))}", "routine", 3, None)


# Hobbies and things being learned.

_NOT_HOBBIES = frozenset(
    """a an the my our your his her their to it this that these those work school uni college
    crying laughing feeling thinking getting being having going trying with around along on
    over again now today tonight""".split()
)
_FREQ_EN = (
    r"(?:once|twice|three\s+times|four\s+times|\d+\s+times|\d+x)\s+(?:a|per)\s+(?:week|month|day)"
    r"|every\s+(?:single\s+)?(?:day|morning|evening|night|week|weekend|monday|tuesday|wednesday"
    r"|thursday|friday|saturday|sunday)|on\s+(?:weekends|mondays|tuesdays|wednesdays|thursdays"
    r"|fridays|saturdays|sundays)|most\s+(?:days|mornings|evenings|weekends)"
)
_FREQ_FR = (
    r"\d+\s+fois\s+par\s+(?:semaine|mois|jour)|tous\s+les\s+(?:jours|matins|soirs|week-ends"
    r"|lundis|mardis|mercredis|jeudis|vendredis|samedis|dimanches)|chaque\s+(?:jour|matin|soir"
    r"|semaine|week-end|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)"
    r"|le\s+(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|week-end)(?:\s+(?:soir|matin))?"
)
# Where a hobby's object ends: "l'escalade le mardi soir avec des collègues".
_HOBBY_END = re.compile(
    rf"\s+(?:{_FREQ_EN}|{_FREQ_FR}|avec|depuis|devant|pendant|with|since|for|le\s+soir|le\s+matin"
    r"|the\s+whole|all\s+(?:day|night|weekend)|a\s+lot)\b.*$",
    re.IGNORECASE | re.DOTALL,
)


def _hobby(obj: str, max_words: int = 6) -> str | None:
    obj = _clean(_HOBBY_END.sub("", _clean(obj)))
    if not _acceptable_object(obj, max_words) or _first_word(obj) in _NOT_HOBBIES - {"the"}:
        return None
    return obj


@_rule(
    rf"(?:{_I_AM}\s+|\bI(?:{_A}ve|\s+have)\s+been\s+|\bI\s+{_ADV}(?:started|began)\s+"
    rf"|{_LEAD_EN}(?P<bare>)(?:been\s+)?){_ADV}learning\s+(?P<obj>.+)"
)
def _learning(m: re.Match[str], clause: _Clause) -> _Draft | None:
    said = m.group("obj")
    to = re.match(r"(?:how\s+)?to\s+", said, re.IGNORECASE)
    obj = _hobby(said[to.end() :] if to else said)
    if obj is None or _first_word(obj) in {"a", "that", "how", "so", "lots"}:
        return None
    obj = f"{to.group()}{obj}" if to else obj
    return _Draft(f"Is learning {obj}", "preference", 3, f"learning:{_thing(obj)}"[:_SLOT_MAX])


@_rule(
    rf"(?:\bI(?:{_A}ve|\s+have)?\s+{_ADV}(?P<took>taken|took)\s+up"
    rf"|{_I_OR_BARE}{_ADV}(?P<started>started|began|picked\s+up))\s+(?P<obj>.+)"
)
def _taken_up(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _hobby(m.group("obj"), max_words=4)
    if obj is None or _first_word(obj) in _NOT_HOBBIES:
        return None
    lead = "Has taken up" if m.group("took") else "Started"
    return _Draft(f"{lead} {obj}", "preference", 3, f"hobby:{_thing(obj)}"[:_SLOT_MAX])


@_rule(
    rf"(?:\bI(?:{_A}ve\s+been|\s+have\s+been|{_A}m|\s+am)?\s+|{_LEAD_EN}(?P<bare>)(?:been\s+)?)"
    rf"{_ADV}(?:play|playing)\s+(?P<obj>.+)"
)
def _play(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _hobby(m.group("obj"))
    if obj is None or _first_word(obj) in {"it", "with", "around", "dead", "nice", "fair"}:
        return None
    return _Draft(f"Plays {obj}", "preference", 3, f"hobby:{_thing(obj)}"[:_SLOT_MAX])


@_rule(
    rf"(?:\bI(?:{_A}ve|\s+have)?\s+(?:been\s+)?|{_LEAD_EN}(?P<bare>)(?:been\s+)?){_ADV}"
    rf"(?P<act>[^\W\d_]+ing)\b(?P<rest>(?:\s+[\w'’-]+){{0,4}}?)\s+(?P<freq>{_FREQ_EN})"
)
def _habit(m: re.Match[str], clause: _Clause) -> _Draft | None:
    act = m.group("act").lower()
    if act in _NOT_HOBBIES | {"doing", "saying", "seeing", "waiting", "wondering", "working"}:
        return None
    if _ABOUT_THE_CAT.search(m.group("rest")):
        return None
    text = f"{act}{m.group('rest')} {_squash(m.group('freq'))}"
    return _Draft(_cap(text), "routine", 3, f"habit:{act}")


@_rule(rf"\bI\s+{_ADV}go\s+(?P<obj>to\s+.+?|[^\W\d_]+ing(?:\s+\S+)?)\s+(?P<freq>{_FREQ_EN})")
def _go_habit(m: re.Match[str], clause: _Clause) -> _Draft | None:
    if _ABOUT_THE_CAT.search(m.group("obj")) or len(m.group("obj").split()) > 5:
        return None
    return _Draft(f"Goes {m.group('obj')} {_squash(m.group('freq'))}", "routine", 3, None)


@_rule(rf"{_I_OR_BARE}{_ADV}volunteer(?:ing)?\s+(?P<prep>at|for|with)\s+(?P<obj>.+)")
def _volunteer(m: re.Match[str], clause: _Clause) -> _Draft | None:
    where = _workplace(m.group("obj"), _WORKPLACES_EN)
    if where is None:
        return None
    return _Draft(f"Volunteers {m.group('prep').lower()} {where}", "work", 3, None)


@_rule(rf"{_I_AM_OR_BARE}{_ADV}training\s+for\s+(?:my|a|an|the)\s+(?P<obj>.+)")
def _training(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _hobby(m.group("obj"))
    if obj is None:
        return None
    return _Draft(f"Is training for a {obj}", "preference", 3, None)


@_rule(
    r"\bj['’]\s*apprends\s+(?P<obj>.+)"
    r"|\bje\s+(?:suis\s+en\s+train\s+d['’]|viens\s+de\s+commencer\s+[àa]\s+)apprendre\s+(?P<obj2>.+)"
)
def _apprends(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _hobby(m.group("obj") or m.group("obj2"))
    if obj is None:
        return None
    return _Draft(f"Apprend {obj}", "preference", 3, f"learning:{_thing(obj)}"[:_SLOT_MAX])


_FR_DE = r"(?P<prep>du|de\s+la|de\s+l['’]|des|au|à\s+la|à\s+l['’]|aux|à)"


@_rule(
    rf"\bje\s+(?P<verb>fais|pratique|joue|me\s+suis\s+mise?|me\s+mets)\s+"
    rf"(?:(?:beaucoup|pas\s+mal|souvent|régulièrement|aussi)\s+)?{_FR_DE}\s*(?P<obj>.+)"
)
def _fais_du(m: re.Match[str], clause: _Clause) -> _Draft | None:
    verb = _squash(m.group("verb"))
    prep = _squash(m.group("prep"))
    if verb == "fais" and not prep.startswith("d"):
        return None  # "je fais au mieux"
    if verb.startswith("me ") and prep.startswith("d"):
        return None
    obj = _hobby(m.group("obj"))
    if obj is None or _first_word(obj) in {"bruit", "mal", "mieux", "fièvre", "peine", "ménage"}:
        return None
    lead = {"fais": "Fait", "pratique": "Pratique", "joue": "Joue", "me mets": "Se met"}.get(
        verb, "S'est mis" + ("e" if verb.endswith("e") else "")
    )
    joiner = "" if prep.endswith(("'", "’")) else " "
    return _Draft(f"{lead} {prep}{joiner}{obj}", "preference", 3, f"hobby:{_thing(obj)}")


@_rule(rf"\bje\s+vais\s+(?P<obj>(?:à|au|aux|chez)\s+.+?)\s+(?P<freq>{_FREQ_FR})")
def _vais_habit(m: re.Match[str], clause: _Clause) -> _Draft | None:
    if _ABOUT_THE_CAT.search(m.group("obj")) or len(m.group("obj").split()) > 5:
        return None
    return _Draft(f"Va {m.group('obj')} {_squash(m.group('freq'))}", "routine", 3, None)


# French idioms.


@_rule(r"\bje\s+(?P<verb>kiffe|kif)\s+(?:(?:trop|grave|vraiment|bien)\s+)*(?P<obj>.+)")
def _kiffe(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj"))
    if not _acceptable_object(obj):
        return None
    return _Draft(f"Kiffe {obj}", "preference", 3, f"like:{_thing(obj)}")


@_rule(
    rf"{_JE_SUIS}\s+(?:(?:trop|grave|complètement|totalement|vraiment)\s+)?"
    r"(?P<what>accro|addict|dingue|fana)\s+"
    r"(?P<prep>aux|au|à\s+la|à\s+l['’]|à|de\s+la|de\s+l['’]|du|des|de|d['’])\s*(?P<obj>.+)"
)
def _accro(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj"))
    if not _acceptable_object(obj):
        return None
    prep = _squash(m.group("prep"))
    joiner = "" if prep.endswith(("'", "’")) else " "
    return _Draft(f"Est {m.group('what').lower()} {prep}{joiner}{obj}", "preference", 3, None)


@_rule(
    rf"{_JE_SUIS}\s+(?P<neg>pas\s+)?(?:(?:trop|vraiment|du\s+tout)\s+)?(?P<when>du\s+(?:matin|soir))\b"
)
def _du_matin(m: re.Match[str], clause: _Clause) -> _Draft | None:
    lead = "N'est pas" if m.group("neg") else "Est"
    return _Draft(f"{lead} {_squash(m.group('when'))}", "preference", 3, "chronotype")


_WORK_WORDS = frozenset("taf boulot travail job chef patron patronne collègues boss".split())


@_rule(
    r"\b(?:j['’]|je\s+n['’])en\s+peux\s+plus\s+(?P<prep>de\s+la|de\s+l['’]|du|des|de|d['’])\s*(?P<obj>.+)"
)
def _en_peux_plus(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj"))
    if not _acceptable_object(obj) and not re.match(r"(?:mon|ma|mes)\s", obj, re.IGNORECASE):
        return None
    obj = re.sub(r"^(mon|ma|mes)\b", lambda w: "s" + w.group(1)[1:], obj, flags=re.IGNORECASE)
    prep = _squash(m.group("prep"))
    joiner = "" if prep.endswith(("'", "’")) else " "
    category = "work" if set(_squash(obj).split()) & _WORK_WORDS else "preference"
    return _Draft(f"N'en peut plus {prep}{joiner}{obj}", category, 3, None)


@_rule(
    r"\bje\s+(?:ne\s+|n['’])?(?P<verb>peux|mange|bois|supporte)\s+(?P<neg>pas|plus|jamais)\s+"
    r"(?:(?P<inf>manger|boire)\s+)?(?P<prep>de|d['’])\s*(?P<obj>.+)"
    r"|^(?P<obj2>(?:les|le|la|l['’])\s*[^\W\d_][\w'’-]*)\s*,?\s+j['’]en\s+(?P<verb2>mange|bois)"
    r"\s+(?P<neg2>pas|plus|jamais)\b"
)
def _mange_pas(m: re.Match[str], clause: _Clause) -> _Draft | None:
    if m.group("obj2"):
        obj = _ARTICLES.sub("", m.group("obj2"))
        neg = m.group("neg2").lower()
        return _Draft(f"Ne {m.group('verb2').lower()} {neg} de {obj}", "preference", 4, None)
    verb = m.group("verb").lower()
    if (verb == "peux") != bool(m.group("inf")):
        return None
    obj = _clean(m.group("obj"))
    if not _acceptable_object(obj, max_words=4):
        return None
    prep = m.group("prep").lower()
    joiner = "" if prep.endswith(("'", "’")) else " "
    if verb == "peux":
        neg = m.group("neg").lower()
        return _Draft(
            f"Ne peut {neg} {m.group('inf').lower()} {prep}{joiner}{obj}", "health", 5, None
        )
    if verb == "supporte":
        return None
    return _Draft(f"Ne {verb} {m.group('neg').lower()} {prep}{joiner}{obj}", "preference", 4, None)


# Work said without "I": "night shift again at the hospital", "nurse at st mary's".


@_rule(
    rf"{_LEAD_EN}(?P<bare>)(?:(?:I{_A}m|I\s+am|I\s+work|I\s+do)\s+)?(?:on\s+)?(?:another\s+|a\s+)?"
    r"(?P<kind>night|day|late|early|double|morning|evening|graveyard)\s+shifts?"
    r"(?:\s+(?:again|tonight|today|this\s+week))*\s+(?:at|in)\s+(?P<obj>.+)"
)
def _shift(m: re.Match[str], clause: _Clause) -> _Draft | None:
    where = _workplace(m.group("obj"), _WORKPLACES_EN)
    if where is None:
        return None
    return _Draft(f"Works {m.group('kind').lower()} shifts at {where}", "work", 3, "workplace")


@_rule(
    rf"(?:{_I_AM}\s+{_ADV}|\bI\s+{_ADV}|{_LEAD_EN}(?P<bare>)){_ADV}(?:working|work)\s+from\s+home"
)
def _from_home(m: re.Match[str], clause: _Clause) -> _Draft | None:
    return _Draft("Works from home", "work", 3, None)


@_rule(rf"{_LEAD_EN}(?P<bare>)(?P<art>(?:a|an)\s+)?(?P<obj>[^\W\d_].*\s(?:at|in|for)\s.+)")
def _bare_job(m: re.Match[str], clause: _Clause) -> _Draft | None:
    if not clause.sentence_start:
        return None
    job = _job(m.group("obj"), _JOBS_EN)
    if job is None or len(job.split()) != len(_clean(m.group("obj")).split()):
        return None  # only a clause that is nothing but a job: "nurse at st mary's"
    if len(job.split()) > 5 or re.search(r"\b(?:said|says|told|is|was|has|had|I|me)\b", job, re.I):
        return None  # "nurse at the hospital said I'm fine": someone else
    return _Draft(f"Is {'an' if job[0] in 'aeiou' else 'a'} {job}", "work", 4, "job")


@_rule(
    rf"{_I_AM_OR_BARE}{_ADV}(?:doing|studying\s+for)\s+(?:a|an|my)\s+(?P<what>phd|ph\.d\.?"
    r"|masters?|master['’]s|degree|bachelor['’]?s?|mba|doctorate)\s+in\s+(?P<obj>.+)"
)
def _degree(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _free_job(m.group("obj"))
    words = obj.split()
    if not words or len(words) > 8 or _ABOUT_THE_CAT.search(obj):
        return None
    what = m.group("what")
    what = "PhD" if what.lower().startswith("ph") else what.lower()
    return _Draft(f"Is doing a {what} in {obj}", "work", 4, "job")


# Places said without "I".


@_rule(
    rf"{_LEAD_EN}(?P<bare>){_ADV}(?P<verb>live|living|based|originally\s+from|from)\s+"
    r"(?:in\s+)?(?P<obj>.+)"
)
def _bare_place(m: re.Match[str], clause: _Clause) -> _Draft | None:
    verb = _squash(m.group("verb"))
    if verb in {"live", "living", "based"} and not re.match(
        r"\S+\s+in\s", m.group(0)[m.start("verb") - m.start() :]
    ):
        return None
    place = _home_place(m.group("obj"))
    if place is None:
        return None
    if verb.endswith("from"):
        return _Draft(f"Is from {place}", "place", 3, "hometown")
    return _Draft(f"Lives in {place}", "place", 4, "home")


@_rule(
    rf"\b(?:I|we)\s+{_ADV}(?:bought|got)\s+(?:a|an|our|my)\s+(?:(?:new|first|little)\s+)?"
    r"(?:house|flat|apartment|home|place|condo)\s+in\s+(?P<obj>.+)"
    r"|\b(?:on|nous)\s+(?:habite|habitons|vit|vivons)\s+(?P<prep>à|a|en|au|aux)\s+(?P<obj2>.+)"
)
def _bought_home(m: re.Match[str], clause: _Clause) -> _Draft | None:
    place = _home_place(m.group("obj") or m.group("obj2"))
    if place is None:
        return None
    if m.group("obj2"):
        prep = "à" if m.group("prep").lower() == "a" else m.group("prep").lower()
        return _Draft(f"Habite {prep} {place}", "place", 4, "home")
    return _Draft(f"Bought a home in {place}", "place", 4, "home")


# Events: a test or exam passed ("I passed my driving test", "j'ai eu mon permis").


@_rule(
    rf"{_I_OR_BARE}{_ADV}(?P<verb>passed|aced)\s+my\s+(?P<obj>(?:[\w-]+\s+){{0,2}}?"
    r"(?:test|exams?|finals|thesis|viva|defen[cs]e|dissertation|interview|audition|probation"
    r"|license|licence|theory))\b"
    r"|\bj['’]\s*ai\s+(?:enfin\s+)?(?P<verb2>eu|obtenu|réussi)\s+(?P<obj2>mon\s+(?:permis|bac"
    r"|diplôme|master|code|concours|examen|partiel)|ma\s+(?:licence|thèse|soutenance))\b"
)
def _passed(m: re.Match[str], clause: _Clause) -> _Draft | None:
    if m.group("obj2"):
        obj = re.sub(r"^(mon|ma)\b", lambda w: "s" + w.group(1)[1:], _squash(m.group("obj2")))
        return _Draft(f"A {m.group('verb2').lower()} {obj}", "event", 3, None)
    verb = _cap(m.group("verb").lower())
    return _Draft(f"{verb} their {_squash(m.group('obj'))}", "event", 3, None)


# Birthday.


@_rule(rf"\bmy\s+(?:birthday|bday|b-day)(?:\s+is|{_A}s)\s+(?:on\s+)?{_DATE_EN}")
def _birthday_en(m: re.Match[str], clause: _Clause) -> _Draft | None:
    return _birthday_draft_en(m)


@_rule(rf"\bI\s+was\s+born\s+on\s+{_DATE_EN}")
def _born_on(m: re.Match[str], clause: _Clause) -> _Draft | None:
    return _birthday_draft_en(m)


def _birthday_draft_en(m: re.Match[str]) -> _Draft | None:
    date = _date_en(m)
    if date is None:
        return None
    month, day, year = date
    text = f"Birthday is on {_MONTH_NAMES_EN[month - 1]} {day}" + (f", {year}" if year else "")
    return _Draft(text, "identity", 4, "birthday")


@_rule(rf"\bmy\s+(?:birthday|bday|b-day)(?:\s+is|{_A}s)\s+in\s+(?P<m>{_MONTH_EN_RE})\b")
def _birthday_month(m: re.Match[str], clause: _Clause) -> _Draft | None:
    month = _MONTHS_EN[m.group("m").lower()]
    return _Draft(f"Birthday is in {_MONTH_NAMES_EN[month - 1]}", "identity", 4, "birthday")


@_rule(
    r"\b(?:mon\s+anniversaire\s+(?:est|c['’]est|tombe)\s+(?:le\s+)?|je\s+suis\s+née?\s+le\s+)"
    + _DATE_FR
)
def _anniversaire(m: re.Match[str], clause: _Clause) -> _Draft | None:
    day_text = m.group("d1").lower()
    day = 1 if day_text == "1er" else int(day_text)
    date = _valid_date(_MONTHS_FR[m.group("m1").lower()], day, m.group("y"))
    if date is None:
        return None
    month, day, year = date
    day_word = "1er" if day == 1 else str(day)
    text = f"Anniversaire le {day_word} {_MONTH_NAMES_FR[month - 1]}" + (f" {year}" if year else "")
    return _Draft(text, "identity", 4, "birthday")


@_rule(r"(?:\bmi\s+cumpleaños\s+es\s+(?:el\s+)?|" + _ES_LEAD[1:] + r"nací\s+el\s+)" + _DATE_ES)
def _cumpleanos(m: re.Match[str], clause: _Clause) -> _Draft | None:
    date = _valid_date(_MONTHS_ES[m.group("m1").lower()], int(m.group("d1")), m.group("y"))
    if date is None:
        return None
    month, day, year = date
    text = f"Cumpleaños el {day} de {_MONTH_NAMES_ES[month - 1]}" + (f" de {year}" if year else "")
    return _Draft(text, "identity", 4, "birthday")


# Job and workplace.


@_rule(rf"\bI\s+{_ADV}work\s+as\s+(?P<obj>.+)")
def _work_as(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _free_job(m.group("obj"))
    words = obj.split()
    article = words[0].lower() if words else ""
    core = words[1:] if article in {"a", "an"} else words
    if not core or len(core) > 5 or _ABOUT_THE_CAT.search(obj):
        return None
    if core[-1].lower() in {"team", "group", "unit", "family", "pair", "well", "hard", "much"}:
        return None
    if article not in {"a", "an"} and _job(obj, _JOBS_EN) is None:
        return None
    return _Draft(f"Works as {obj}", "work", 4, "job")


@_rule(rf"{_I_AM}\s+(?:(?:also|now|currently)\s+)?(?P<art>an?)\s+(?P<obj>.+)")
def _i_am_a_job(m: re.Match[str], clause: _Clause) -> _Draft | None:
    job = _job(m.group("obj"), _JOBS_EN)
    if job is None:
        return None
    return _Draft(f"Is {m.group('art').lower()} {job}", "work", 4, "job")


@_rule(
    rf"{_I_AM}\s+(?:(?:now|currently|also)\s+)?(?P<what>retired|unemployed|self-employed"
    r"|between\s+jobs|a\s+stay-at-home\s+(?:mom|mum|dad|parent))\b"
)
def _status_en(m: re.Match[str], clause: _Clause) -> _Draft | None:
    return _Draft("Is " + _squash(m.group("what")), "work", 4, "job")


@_rule(
    rf"{_I_OR_BARE}{_ADV}work(?:ing)?\s+(?:(?:nights|days|weekends|evenings|mornings"
    r"|part[\s-]time|full[\s-]time|shifts)\s+)?(?P<prep>at|for)\s+(?P<obj>.+)"
)
def _work_at(m: re.Match[str], clause: _Clause) -> _Draft | None:
    where = _workplace(m.group("obj"), _WORKPLACES_EN)
    if where is None or _ABOUT_THE_CAT.search(where):
        return None
    where = _antecedent(where, clause)
    return _Draft(f"Works {m.group('prep').lower()} {where}", "work", 3, "workplace")


_NOT_TAUGHT = r"(?!(?:me|you|u|him|her|them|us|it|myself|yourself)\b)"


@_rule(
    rf"{_I_OR_BARE}{_ADV}teach\s+(?:(?P<what>{_NOT_TAUGHT}[\w'’-]+(?:\s+[\w'’-]+){{0,3}}?)\s+)?"
    r"(?P<prep>at|in)\s+(?P<obj>.+)"
    r"|\bj['’]\s*enseigne\s+(?:(?P<what2>(?!(?:te|lui|leur|nous|vous)\b)[\w'’-]+"
    r"(?:\s+[\w'’-]+){0,3}?)\s+)?(?P<prep2>dans|à|au|en)\s+(?P<obj2>.+)"
)
def _teach(m: re.Match[str], clause: _Clause) -> _Draft | None:
    french = m.group("obj2") is not None
    where = _workplace(
        m.group("obj2") if french else m.group("obj"), _WORKPLACES_FR if french else _WORKPLACES_EN
    )
    if where is None or _ABOUT_THE_CAT.search(where):
        return None
    what = m.group("what2") if french else m.group("what")
    if what and (_ABOUT_THE_CAT.search(what) or _first_word(what) in _VAGUE_FIRST):
        return None
    prep = (m.group("prep2") if french else m.group("prep")).lower()
    lead = "Enseigne" if french else "Teaches"
    return _Draft(" ".join(w for w in (lead, what, prep, where) if w), "work", 4, "job")


@_rule(rf"\bI\s+{_ADV}work\s+in\s+(?P<obj>.+)")
def _work_in(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _clean(m.group("obj"))
    first = obj.split()[0] if obj.split() else ""
    if first in _FIELDS_EN or first.lower() in {f.lower() for f in _FIELDS_EN if f.islower()}:
        return _Draft(f"Works in {first}", "work", 3, None)
    where = _workplace(obj, _WORKPLACES_EN)
    if where is None or _place(obj):
        return None  # "I work in London" is a place, not a workplace; not worth a guess
    return _Draft(f"Works in {where}", "work", 3, "workplace")


@_rule(r"\bje\s+(?:travaille|bosse)\s+comme\s+(?P<obj>.+)")
def _travaille_comme(m: re.Match[str], clause: _Clause) -> _Draft | None:
    job = _job(m.group("obj"), _JOBS_FR)
    if job is not None and not _ABOUT_THE_CAT.search(job):
        return _Draft(f"Travaille comme {job}", "work", 4, "job")
    obj = _free_job(m.group("obj"))
    if not obj or len(obj.split()) > 5 or _ABOUT_THE_CAT.search(obj):
        return None
    return _Draft(f"Travaille comme {obj}", "work", 4, "job")


@_rule(r"(?:\bje\s+|\bj['’]\s*)suis\s+(?:(?P<art>une?)\s+)?(?P<obj>.+)")
def _je_suis_job(m: re.Match[str], clause: _Clause) -> _Draft | None:
    job = _job(m.group("obj"), _JOBS_FR)
    if job is None:
        return None
    art = f"{m.group('art').lower()} " if m.group("art") else ""
    return _Draft(f"Est {art}{job}", "work", 4, "job")


@_rule(
    r"(?:\bje\s+|\bj['’]\s*)suis\s+(?:maintenant\s+)?(?P<what>à\s+la\s+retraite|au\s+chômage|au\s+chomage)"
)
def _status_fr(m: re.Match[str], clause: _Clause) -> _Draft | None:
    return _Draft("Est " + _squash(m.group("what")), "work", 4, "job")


@_rule(r"\bje\s+(?:travaille|bosse)\s+(?P<prep>chez|pour|à|a|dans)\s+(?P<obj>.+)")
def _travaille_chez(m: re.Match[str], clause: _Clause) -> _Draft | None:
    prep = m.group("prep").lower()
    prep = "à" if prep == "a" else prep
    where = _workplace(m.group("obj"), _WORKPLACES_FR)
    if where is None or (prep in {"à", "dans"} and _place(m.group("obj"))):
        return None  # "je travaille à Lyon": a place
    return _Draft(f"Travaille {prep} {where}", "work", 3, "workplace")


@_rule(_ES_LEAD + r"trabajo\s+(?P<prep>como|de)\s+(?P<obj>.+)")
def _trabajo_como(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = _free_job(m.group("obj"))
    if m.group("prep").lower() == "de" and _job(obj, _JOBS_ES) is None:
        return None  # "trabajo de noche"
    if not obj or len(obj.split()) > 5 or _ABOUT_THE_CAT.search(obj):
        return None
    return _Draft(f"Trabaja {m.group('prep').lower()} {obj}", "work", 4, "job")


@_rule(_ES_LEAD + r"soy\s+(?:(?P<art>una?)\s+)?(?P<obj>.+)")
def _soy_job(m: re.Match[str], clause: _Clause) -> _Draft | None:
    job = _job(m.group("obj"), _JOBS_ES)
    if job is None:
        return None
    art = f"{m.group('art').lower()} " if m.group("art") else ""
    return _Draft(f"Es {art}{job}", "work", 4, "job")


@_rule(_ES_LEAD + r"(?:estoy|soy)\s+(?P<what>jubilad[oa])\b")
def _jubilado(m: re.Match[str], clause: _Clause) -> _Draft | None:
    return _Draft(f"Está {m.group('what').lower()}", "work", 4, "job")


@_rule(_ES_LEAD + r"trabajo\s+(?P<prep>en|para)\s+(?P<obj>.+)")
def _trabajo_en(m: re.Match[str], clause: _Clause) -> _Draft | None:
    where = _workplace(m.group("obj"), _WORKPLACES_ES)
    if where is None or _ABOUT_THE_CAT.search(where):
        return None
    return _Draft(f"Trabaja {m.group('prep').lower()} {where}", "work", 3, "workplace")


# Home, home town and birthplace.


# "I've lived in London for ten years" is home; "I've lived in Rome" alone may be the past.
_FOR_A_WHILE = re.compile(
    r"\b(?:for|since|all\s+my\s+life|my\s+whole\s+life|forever|most\s+of\s+my\s+life)\b",
    re.IGNORECASE,
)


@_rule(
    rf"\b(?:I|we)(?:\s+{_ADV}(?P<live>live)|(?:{_A}?m|\s+am|{_A}re|\s+are|{_A}ve\s+been"
    rf"|\s+have\s+been)\s+{_ADV}(?P<how>living|based)|(?:{_A}ve|\s+have)\s+{_ADV}(?P<lived>lived))"
    r"\s+in\s+(?P<obj>.+)"
)
def _live_in(m: re.Match[str], clause: _Clause) -> _Draft | None:
    place = _home_place(m.group("obj"))
    if place is None:
        return None
    if m.group("lived") and not _FOR_A_WHILE.search(
        m.group("obj")[len(place) :] + " " + clause.after[:12]
    ):
        return None
    lead = "Is based in" if (m.group("how") or "").lower() == "based" else "Lives in"
    return _Draft(f"{lead} {place}", "place", 4, "home")


@_rule(
    rf"(?:\b(?:I|we)(?:\s+have|{_A}ve)?\s+|{_LEAD_EN}(?P<bare>)){_ADV}(?:moved|relocated)"
    r"\s+(?:back\s+)?to\s+(?P<obj>.+)"
)
def _moved_to(m: re.Match[str], clause: _Clause) -> _Draft | None:
    place = _home_place(m.group("obj"))
    if place is None:
        return None
    return _Draft(f"Moved to {place}", "place", 4, "home")


@_rule(rf"{_I_AM}\s+{_ADV}from\s+(?P<obj>.+)|\bI\s+{_ADV}come\s+from\s+(?P<obj2>.+)")
def _from(m: re.Match[str], clause: _Clause) -> _Draft | None:
    place = _home_place(m.group("obj") or m.group("obj2"))
    if place is None:
        return None
    lead = "Is from" if m.group("obj") else "Comes from"
    return _Draft(f"{lead} {place}", "place", 3, "hometown")


@_rule(rf"(?:\bI\s+|{_LEAD_EN}(?P<bare>)){_ADV}grew\s+up\s+in\s+(?P<obj>.+)")
def _grew_up(m: re.Match[str], clause: _Clause) -> _Draft | None:
    place = _home_place(m.group("obj"))
    if place is None:
        return None
    return _Draft(f"Grew up in {place}", "place", 3, "hometown")


@_rule(r"\bI\s+was\s+born\s+(?P<raised>and\s+raised\s+)?in\s+(?P<obj>.+)")
def _born_in(m: re.Match[str], clause: _Clause) -> _Draft | None:
    place = _home_place(m.group("obj"))
    if place is None:
        return None
    if m.group("raised"):
        return _Draft(f"Was born and raised in {place}", "place", 3, "hometown")
    return _Draft(f"Was born in {place}", "place", 3, "birthplace")


_FR_PREP = r"(?P<prep>à|a|en|au|aux)"


@_rule(
    rf"\bj['’]\s*habite\s+(?:{_FR_PREP}\s+)?(?P<obj>.+)"
    r"|\bje\s+vis\s+(?P<prep2>à|a|en|au|aux)\s+(?P<obj2>.+)"
)
def _habite(m: re.Match[str], clause: _Clause) -> _Draft | None:
    place = _home_place(m.group("obj") or m.group("obj2"))
    if place is None:
        return None
    prep = (m.group("prep") or m.group("prep2") or "").lower()
    prep = "à" if prep == "a" else prep
    verb = "Habite" if m.group("obj") else "Vit"
    return _Draft(f"{verb} {prep + ' ' if prep else ''}{place}", "place", 4, "home")


@_rule(
    rf"\b(?:j['’]ai|nous\s+avons|on\s+a)\s+déménagé\s+{_FR_PREP}\s+(?P<obj>.+)"
    r"|\bje\s+viens\s+de\s+déménager\s+(?P<prep2>à|a|en|au|aux)\s+(?P<obj2>.+)"
)
def _demenage(m: re.Match[str], clause: _Clause) -> _Draft | None:
    place = _home_place(m.group("obj") or m.group("obj2"))
    if place is None:
        return None
    prep = (m.group("prep") or m.group("prep2")).lower()
    prep = "à" if prep == "a" else prep
    verb = "A déménagé" if m.group("obj") else "Vient de déménager"
    return _Draft(f"{verb} {prep} {place}", "place", 4, "home")


@_rule(r"\bje\s+(?P<verb>viens|suis\s+originaire|suis)\s+(?P<prep>de|du|des|d['’])\s*(?P<obj>.+)")
def _viens_de(m: re.Match[str], clause: _Clause) -> _Draft | None:
    place = _home_place(m.group("obj"))
    if place is None:
        return None
    verb = re.sub(r"\s+", " ", m.group("verb").lower())
    lead = {"viens": "Vient", "suis originaire": "Est originaire", "suis": "Est"}[verb]
    prep = m.group("prep").lower()
    joiner = "" if prep.endswith(("'", "’")) else " "
    return _Draft(f"{lead} {prep}{joiner}{place}", "place", 3, "hometown")


@_rule(rf"\bj['’]ai\s+grandi\s+{_FR_PREP}\s+(?P<obj>.+)")
def _grandi(m: re.Match[str], clause: _Clause) -> _Draft | None:
    place = _home_place(m.group("obj"))
    if place is None:
        return None
    prep = m.group("prep").lower()
    return _Draft(f"A grandi {'à' if prep == 'a' else prep} {place}", "place", 3, "hometown")


@_rule(rf"\bje\s+suis\s+(?P<ne>née?)\s+{_FR_PREP}\s+(?P<obj>.+)")
def _ne_a(m: re.Match[str], clause: _Clause) -> _Draft | None:
    place = _home_place(m.group("obj"))
    if place is None:
        return None
    prep = m.group("prep").lower()
    prep = "à" if prep == "a" else prep
    return _Draft(f"Est {m.group('ne').lower()} {prep} {place}", "place", 3, "birthplace")


@_rule(_ES_LEAD + r"vivo\s+en\s+(?P<obj>.+)")
def _vivo_en(m: re.Match[str], clause: _Clause) -> _Draft | None:
    place = _place(m.group("obj"))
    if place is None:
        return None
    return _Draft(f"Vive en {place}", "place", 4, "home")


@_rule(
    r"\bme\s+(?:he\s+)?(?:mudé|mude|mudado)\s+a\s+(?P<obj>.+)"
    r"|\bacabo\s+de\s+mudarme\s+a\s+(?P<obj2>.+)"
)
def _me_mude(m: re.Match[str], clause: _Clause) -> _Draft | None:
    place = _place(m.group("obj") or m.group("obj2"))
    if place is None:
        return None
    return _Draft(f"Se mudó a {place}", "place", 4, "home")


@_rule(_ES_LEAD + r"(?P<verb>soy|vengo|crecí|creci|nací|naci)\s+(?P<prep>de|del|en)\s+(?P<obj>.+)")
def _soy_de(m: re.Match[str], clause: _Clause) -> _Draft | None:
    place = _place(m.group("obj"))
    verb = m.group("verb").lower().replace("i", "í") if m.group("verb") else ""
    prep = m.group("prep").lower()
    if place is None:
        return None
    forms = {
        ("soy", "de"): ("Es de", "hometown"),
        ("soy", "del"): ("Es del", "hometown"),
        ("vengo", "de"): ("Viene de", "hometown"),
        ("vengo", "del"): ("Viene del", "hometown"),
        ("crecí", "en"): ("Creció en", "hometown"),
        ("nací", "en"): ("Nació en", "birthplace"),
    }
    found = forms.get((verb.replace("í", "i") if verb.startswith(("soy", "veng")) else verb, prep))
    if found is None:
        return None
    lead, slot = found
    return _Draft(f"{lead} {place}", "place", 3, slot)


# Name.


def _name_draft(name: str | None, lead: str) -> _Draft | None:
    if name is None:
        return None
    return _Draft(f"{lead} {name}", "identity", 5, "name")


@_rule(rf"\bmy\s+name(?:{_A}s|\s+is)\s+(?P<obj>.+)")
def _my_name_is(m: re.Match[str], clause: _Clause) -> _Draft | None:
    return _name_draft(_name(m.group("obj"), clause=clause, lenient=True, whole=True), "Name is")


@_rule(rf"{_I_AM}\s+(?P<obj>.+)")
def _i_am_name(m: re.Match[str], clause: _Clause) -> _Draft | None:
    return _name_draft(_name(m.group("obj"), clause=clause, lenient=False, whole=True), "Name is")


@_rule(r"\b(?:call\s+me|I\s+go\s+by)\s+(?P<obj>.+)")
def _call_me(m: re.Match[str], clause: _Clause) -> _Draft | None:
    return _name_draft(_name(m.group("obj"), clause=clause, lenient=True, whole=True), "Name is")


@_rule(
    r"\bje\s+m['’]\s*appelle\s+(?P<obj>.+)|\bmon\s+(?:pré)?nom\s+(?:est|c['’]est)\s+(?P<obj2>.+)"
)
def _je_mappelle(m: re.Match[str], clause: _Clause) -> _Draft | None:
    name = _name(m.group("obj") or m.group("obj2"), clause=clause, lenient=True, whole=True)
    return _name_draft(name, "S'appelle")


@_rule(
    r"\bmoi\s+c['’]est\s+(?P<obj>.+)|(?:\bje\s+|\bj['’]\s*)suis\s+(?P<obj2>.+)"
    r"|\bappelle[- ]moi\s+(?P<obj3>.+)"
)
def _je_suis_name(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = m.group("obj") or m.group("obj2") or m.group("obj3")
    return _name_draft(_name(obj, clause=clause, lenient=False, whole=True), "S'appelle")


@_rule(r"\bme\s+llamo\s+(?P<obj>.+)|\bmi\s+nombre\s+es\s+(?P<obj2>.+)")
def _me_llamo(m: re.Match[str], clause: _Clause) -> _Draft | None:
    name = _name(m.group("obj") or m.group("obj2"), clause=clause, lenient=True, whole=True)
    return _name_draft(name, "Se llama")


@_rule(_ES_LEAD + r"soy\s+(?P<obj>.+)|\bllámame\s+(?P<obj2>.+)")
def _soy_name(m: re.Match[str], clause: _Clause) -> _Draft | None:
    obj = m.group("obj") or m.group("obj2")
    return _name_draft(_name(obj, clause=clause, lenient=False, whole=True), "Se llama")


# People.


def _person(relation: str, name: str | None, text: str) -> _Draft | None:
    if name is None:
        return None
    slot = f"person:{relation}"
    if relation not in _UNIQUE_RELATIONS:
        slot += f":{name.lower()}"
    return _Draft(text, "people", 4, slot[:_SLOT_MAX])


_REL_EN = _alternation(_RELATIONS_EN)
_REL_FR = _alternation(_RELATIONS_FR)
_REL_ES = _alternation(_RELATIONS_ES)


@_rule(
    rf"\b(?:my|our)\s+(?P<rel>{_REL_ADJ_EN}{_REL_EN})(?:{_A}s\s+name(?:\s+is|{_A}s)"
    rf"|\s+is\s+called|\s+is\s+named|{_A}s\s+called|{_A}s\s+named|\s+name\s+is)\s+(?P<obj>.+)"
)
def _my_rel_is_called(m: re.Match[str], clause: _Clause) -> _Draft | None:
    return _person_en(m, clause, lenient=True)


@_rule(rf"\b(?:my|our)\s+(?P<rel>{_REL_ADJ_EN}{_REL_EN})\s+(?P<obj>[^\W\d_].*)")
def _my_rel_name(m: re.Match[str], clause: _Clause) -> _Draft | None:
    return _person_en(m, clause, lenient=False)


@_rule(
    rf"{_I_HAVE}\s+an?\s+(?P<rel>{_REL_ADJ_EN}{_REL_EN})"
    r"\s+(?:named|called)\s+(?P<obj>.+)"
)
def _have_a_rel(m: re.Match[str], clause: _Clause) -> _Draft | None:
    return _person_en(m, clause, lenient=True)


def _person_en(m: re.Match[str], clause: _Clause, *, lenient: bool) -> _Draft | None:
    said = re.sub(r"\s+", " ", m.group("rel")).lower()
    base = said.split(" ", 1)[1] if said.split(" ", 1)[0] in _REL_ADJ_WORDS_EN else said
    relation = _RELATIONS_EN.get(base)
    if relation is None:
        return None
    name = _name(m.group("obj"), clause=clause, lenient=lenient, whole=lenient)
    return _person(relation, name, f"{_cap(said)} is called {name}")


_REL_ADJ_WORDS_EN = frozenset(
    "little big older younger baby twin elder eldest oldest youngest step".split()
)


@_rule(
    rf"\b(?:mon|ma|notre)\s+(?P<rel>{_REL_ADJ_FR}{_REL_FR})\s+(?:(?P<verb>s['’]appelle)\s+)?"
    r"(?P<obj>[^\W\d_].*)"
    rf"|\bj['’]ai\s+une?\s+(?P<rel2>{_REL_ADJ_FR}{_REL_FR})\s+(?:qui\s+s['’]appelle"
    r"|nommée?|appelée?)\s+(?P<obj2>.+)"
)
def _rel_fr(m: re.Match[str], clause: _Clause) -> _Draft | None:
    said = re.sub(r"\s+", " ", m.group("rel") or m.group("rel2")).lower()
    base = (
        re.sub(r"^(?:petite?|grande?|demi-)\s*", "", said)
        if " " in said or "demi-" in said
        else said
    )
    relation = _RELATIONS_FR.get(base) or _RELATIONS_FR.get(said)
    if relation is None:
        return None
    lenient = bool(m.group("verb") or m.group("obj2"))
    name = _name(m.group("obj") or m.group("obj2"), clause=clause, lenient=lenient, whole=lenient)
    return _person(relation, name, f"{_cap(said)} s'appelle {name}")


@_rule(
    rf"\b(?:mi|nuestr[oa])\s+(?P<rel>{_REL_ES}){_REL_ADJ_ES}\s+(?:(?P<verb>se\s+llama)\s+)?"
    r"(?P<obj>[^\W\d_].*)"
    rf"|\btengo\s+una?\s+(?P<rel2>{_REL_ES}){_REL_ADJ_ES}\s+(?:que\s+se\s+llama|llamad[oa])"
    r"\s+(?P<obj2>.+)"
)
def _rel_es(m: re.Match[str], clause: _Clause) -> _Draft | None:
    said = re.sub(r"\s+", " ", m.group("rel") or m.group("rel2")).lower()
    relation = _RELATIONS_ES.get(said)
    if relation is None:
        return None
    lenient = bool(m.group("verb") or m.group("obj2"))
    name = _name(m.group("obj") or m.group("obj2"), clause=clause, lenient=lenient, whole=lenient)
    return _person(relation, name, f"{_cap(said)} se llama {name}")


# Pets.

_SPECIES_EN_RE = _alternation(_SPECIES_EN)
_SPECIES_FR_RE = _alternation(_SPECIES_FR)
_SPECIES_ES_RE = _alternation(_SPECIES_ES)


def _pet(name: str | None, text: str) -> _Draft | None:
    if name is None:
        return None
    return _Draft(text, "pets", 4, f"pet:{name.lower()}"[:_SLOT_MAX])


def _singular_en(species: str) -> str:
    species = re.sub(r"\s+", " ", species.lower())
    for plural, singular in (("puppies", "puppy"), ("kitties", "kitty"), ("bunnies", "bunny")):
        if species == plural:
            return singular
    if species.endswith(("ches", "shes", "sses")):
        return species[:-2]
    if species.endswith("s") and species[:-1] in _SPECIES_EN:
        return species[:-1]
    return species


@_rule(
    rf"{_I_HAVE}\s+(?P<count>a|an|one|two|three|four)"
    rf"\s+{_PET_ADJ_EN}(?P<species>{_SPECIES_EN_RE}(?:s|es)?)\s+(?:named|called)\s+(?P<obj>.+)"
)
def _have_a_pet_named(m: re.Match[str], clause: _Clause) -> _Draft | None:
    count = _COUNTS_EN[m.group("count").lower()]
    species = _singular_en(m.group("species"))
    if count not in {"a", "an"}:
        plural = m.group("species").lower()
        return _Draft(f"Has {count} {plural}", "pets", 3, None) if plural != species else None
    name = _name(m.group("obj"), clause=clause, lenient=True, whole=False)
    return _pet(name, f"Has {count} {species} named {name}")


@_rule(
    rf"\b(?:my|our)\s+{_PET_ADJ_EN}(?P<species>{_SPECIES_EN_RE})(?P<verb>{_A}s\s+name(?:\s+is|{_A}s)"
    rf"|\s+is\s+called|\s+is\s+named|{_A}s\s+called|{_A}s\s+named|\s+name\s+is)?"
    r"\s+(?P<obj>[^\W\d_].*)"
)
def _my_pet(m: re.Match[str], clause: _Clause) -> _Draft | None:
    species = _singular_en(m.group("species"))
    lenient = bool(m.group("verb"))
    name = _name(m.group("obj"), clause=clause, lenient=lenient, whole=lenient)
    article = "an" if species[0] in "aeiou" else "a"
    return _pet(name, f"Has {article} {species} named {name}")


@_rule(
    rf"{_I_HAVE}\s+(?P<count>a|an|one|two|three|four)?"
    rf"\s*{_PET_ADJ_EN}(?P<species>{_SPECIES_EN_RE}(?:s|es)?)(?:\s+(?:too|as\s+well|also|now))*$"
)
def _have_a_pet(m: re.Match[str], clause: _Clause) -> _Draft | None:
    said = m.group("species").lower()
    species = _singular_en(said)
    count = _COUNTS_EN.get((m.group("count") or "").lower())
    if count is None:
        return _Draft(f"Has {said}", "pets", 3, None) if said != species else None
    if (count in {"a", "an"}) != (said == species):
        return None  # "a dogs", "two dog"
    return _Draft(f"Has {count} {said}", "pets", 3, None)


@_rule(
    rf"\b(?:my|our)\s+(?P<count>two|three|four|five|2|3|4|5)\s+{_PET_ADJ_EN}"
    rf"(?P<species>{_SPECIES_EN_RE}(?:s|es)?)\b"
    rf"|\b(?:mes|nos)\s+(?P<count2>deux|trois|quatre|cinq|2|3|4|5)\s+(?P<species2>{_SPECIES_FR_RE}"
    r"(?:s|x)?)\b",
    claims=False,
)
def _my_pets_counted(m: re.Match[str], clause: _Clause) -> _Draft | None:
    if m.group("count2"):
        said = f"{m.group('count2').lower()} {_squash(m.group('species2'))}"
        return _Draft(f"A {said}", "pets", 3, None)
    said = _squash(m.group("species"))
    if _singular_en(said) == said:
        return None  # "my two dog" is not a list of pets
    return _Draft(f"Has {m.group('count').lower()} {said}", "pets", 3, None)


@_rule(
    rf"\bj['’]ai\s+(?P<art>un|une)\s+(?P<species>{_SPECIES_FR_RE})\s+(?:qui\s+s['’]appelle"
    r"|nommée?|appelée?)\s+(?P<obj>.+)"
    rf"|\b(?:mon|ma|notre)\s+(?P<species2>{_SPECIES_FR_RE})\s+(?:(?P<verb>s['’]appelle)\s+)?"
    r"(?P<obj2>[^\W\d_].*)"
)
def _pet_fr(m: re.Match[str], clause: _Clause) -> _Draft | None:
    species = re.sub(r"\s+", " ", m.group("species") or m.group("species2")).lower()
    lenient = bool(m.group("obj") or m.group("verb"))
    name = _name(m.group("obj") or m.group("obj2"), clause=clause, lenient=lenient, whole=lenient)
    article = _SPECIES_FR.get(species, "un")
    return _pet(name, f"A {article} {species} qui s'appelle {name}")


@_rule(r"\bj['’]ai\s+(?P<art>un|une|deux|trois|des)\s+(?P<species>" + _SPECIES_FR_RE + r")s?$")
def _have_a_pet_fr(m: re.Match[str], clause: _Clause) -> _Draft | None:
    rest = m.group(0)[m.start("art") - m.start() :]
    return _Draft(f"A {rest.strip()}", "pets", 3, None)


@_rule(
    _ES_LEAD + rf"tengo\s+(?P<art>un|una)\s+(?P<species>{_SPECIES_ES_RE})\s+(?:que\s+se\s+llama"
    r"|llamad[oa])\s+(?P<obj>.+)"
    rf"|\b(?:mi|nuestr[oa])\s+(?P<species2>{_SPECIES_ES_RE})\s+(?:(?P<verb>se\s+llama)\s+)?"
    r"(?P<obj2>[^\W\d_].*)"
)
def _pet_es(m: re.Match[str], clause: _Clause) -> _Draft | None:
    species = re.sub(r"\s+", " ", m.group("species") or m.group("species2")).lower()
    lenient = bool(m.group("obj") or m.group("verb"))
    name = _name(m.group("obj") or m.group("obj2"), clause=clause, lenient=lenient, whole=lenient)
    article = _SPECIES_ES.get(species, "un")
    called = "llamada" if article == "una" else "llamado"
    return _pet(name, f"Tiene {article} {species} {called} {name}")


@_rule(
    _ES_LEAD + r"tengo\s+(?P<art>un|una|dos|tres)\s+(?P<species>" + _SPECIES_ES_RE + r")(?:e?s)?$"
)
def _have_a_pet_es(m: re.Match[str], clause: _Clause) -> _Draft | None:
    rest = m.group(0)[m.start("art") - m.start() :]
    return _Draft(f"Tiene {rest.strip()}", "pets", 3, None)


# --- the engine -----------------------------------------------------------------------------------


# An eye-roll or "/s" says the message means the opposite: its likes are not likes.
_SARCASM = re.compile(r"🙄|(?<!\w)/s\s*$")


def extract_facts(text: str, *, cat_name: str | None = None) -> list[Fact]:
    """The facts the human states about themselves in `text`, in the order they appear.

    `cat_name`, when given, drops facts that mention the cat the human is talking to (the human
    may well call it "my cat Whiskers"). Each fact appears once even if said twice.
    """
    if not any(c.islower() for c in text):
        return []  # all capitals (or no letters): shouting leaves no way to tell a name apart
    lowercase = not any(c.isupper() for c in text)
    cat_word = (
        re.compile(rf"(?<!\w){re.escape(cat_name.strip())}(?!\w)", re.IGNORECASE)
        if cat_name and cat_name.strip()
        else None
    )
    found = [
        found
        for clause in _statement_clauses(text, lowercase=lowercase)
        for found in _clause_drafts(clause)
    ]
    if _SARCASM.search(text):
        found = [f for f in found if not (f[0].slot or "").startswith("like:")]
    pets, named_species = _pets_in_sentences(text, lowercase=lowercase)
    found = sorted(found + pets, key=lambda f: f[2])
    facts: list[Fact] = []
    seen: set[tuple[str, str | None]] = set()
    for draft, quote, _offset in found:
        if cat_word is not None and cat_word.search(draft.text):
            continue
        if (
            draft.category == "pets"
            and draft.slot is None
            and named_species
            & set(re.findall(r"\w+", _singular_en(draft.text.lower().rstrip("s"))))
        ):
            continue  # "Has two cats" says less than "Has a cat named Miso" and "... Tofu"
        key = (draft.text.lower(), draft.slot)
        if key in seen:
            continue
        seen.add(key)
        facts.append(Fact(draft.text, draft.category, draft.importance, draft.slot, quote))
    return facts


def _statement_clauses(text: str, *, lowercase: bool) -> Iterator[_Clause]:
    """The clauses of `text` that may state something: questions and conditionals left out."""
    for start, end, question in _sentences(text):
        clauses = list(_clauses(text, start, end, lowercase=lowercase))
        if not clauses:
            continue
        first = clauses[0].text
        if _QUESTION_START.search(first) or _CONDITIONAL_START.search(first):
            continue
        if question:
            # "I love jazz, do you?": the question is the last clause; "where do I live?" has
            # nothing before it.
            clauses = clauses[:-1]
        yield from (c for c in clauses if not _ALTERNATIVE.search(c.text))


def _sentences(text: str) -> Iterator[tuple[int, int, bool]]:
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        yield pos, m.start(), "?" in m.group() or "¿" in text[pos : m.start()]
        pos = m.end()
    yield pos, len(text), "¿" in text[pos:]


def _clauses(text: str, start: int, end: int, *, lowercase: bool) -> Iterator[_Clause]:
    sentence = text[start:end]
    protected = [m.span() for m in _PROTECTED.finditer(sentence)]
    pieces: list[tuple[int, int]] = []
    pos = 0
    for m in _CLAUSE_BREAK.finditer(sentence):
        if any(a <= m.start() < b for a, b in protected):
            continue
        pieces.append((pos, m.start()))
        pos = m.end()
    pieces.append((pos, len(sentence)))
    carries = True  # the subject so far is the human's (or none was said)
    for index, (a, b) in enumerate(pieces):
        piece = sentence[a:b]
        lead = len(piece) - len(piece.lstrip(" \t\"'“”‘’*-–—(¡¿"))
        piece = piece[lead:].rstrip(' \t"“”*-–—)')
        if not piece:
            continue
        yield _Clause(
            piece,
            start + a + lead,
            lowercase,
            sentence_start=index == 0,
            subject_free=carries,
            before=text[: start + a + lead],
            after=sentence[b:],
        )
        if _FIRST_PERSON_START.search(piece):
            carries = True
        elif _other_subject(piece):
            carries = False


def _clause_drafts(clause: _Clause) -> Iterator[tuple[_Draft, str, int]]:
    claimed: list[tuple[int, int]] = []
    for rule in _RULES:
        for m in rule.pattern.finditer(clause.text):
            a, b = m.span()
            if rule.claims and any(a < y and x < b for x, y in claimed):
                continue
            if _HEDGE.search(clause.text[:a]):
                continue
            if m.groupdict().get("bare") is not None and not clause.subject_free:
                continue  # "allergic to cats" after "my sister is a vet,": hers, not theirs
            draft = rule.build(m, clause)
            if draft is None:
                continue
            if rule.claims:
                claimed.append((a, b))
            yield draft, clause.text[a:b].rstrip()[:_QUOTE_MAX], clause.start + a


# Pets named across clauses: "we got two cats, miso and tofu", "j'ai un lapin qui s'appelle
# Caramel et une tortue, Franklin", "just adopted a kitten! her name is Pepper".

_ALL_SPECIES_RE = _alternation({*_SPECIES_EN, *_SPECIES_FR, *_SPECIES_ES})
_HAVE_PETS = re.compile(
    rf"(?:\b(?:I|we)(?:{_A}ve\s+got|\s+have\s+got|\s+have|\s+got|\s+adopted|\s+rescued"
    r"|\s+just\s+(?:got|adopted|rescued))|\bj['’]ai(?:\s+adopté)?|\b(?:on\s+a|nous\s+avons)"
    r"(?:\s+adopté)?|^\W*(?:just\s+)?(?:adopted|got|rescued))(?=\s)",
    re.IGNORECASE,
)
_COUNT = r"(?P<count>a|an|one|two|three|four|un|une|deux|trois|quatre|2|3|4)"
_NAME_WORD = r"[^\W\d_][\w'’-]*"
_NEXT_NAME = rf"(?!(?:a|an|one|two|three|four|un|une|deux|trois|quatre|et|and)\b){_NAME_WORD}"
_PET_ITEM = re.compile(
    rf"\b{_COUNT}\s+{_PET_ADJ_EN}(?P<species>{_ALL_SPECIES_RE})(?:e?s)?\b"
    r"(?:(?P<gap>[^,.;:!?]{0,25}?)(?:\s*[,:(–-]\s*|\s+(?:called|named|qui\s+s['’]appellent"
    r"|qui\s+s['’]appelle|appelée?s?|nommée?s?)\s+)"
    rf"(?P<names>{_NAME_WORD}(?:\s*,\s*{_NEXT_NAME})*(?:\s*,?\s*(?:and|&|et|n)\s+{_NEXT_NAME})?)"
    r"|(?=\s*(?:$|[,.;!?)])))",
    re.IGNORECASE,
)
_NAMED_IT = re.compile(
    rf"\b(?:I|we)\s+(?:just\s+)?(?:named|called)\s+(?:him|her|it|them)\s+(?P<name>{_NAME_WORD})"
    r"|\b(?:on|nous|je)\s+(?:l['’]a|l['’]avons|l['’]ai)\s+(?:appelée?|nommée?|baptisée?)"
    rf"\s+(?P<name2>{_NAME_WORD})"
    rf"|^\W*(?:(?:and|so|et)\s+)?(?P<their>his|her|its|il|elle)\s+(?:name(?:\s+is|{_A}s)"
    rf"|s['’]appelle)\s+(?P<name3>{_NAME_WORD})",
    re.IGNORECASE,
)
_ONE = frozenset({"a", "an", "one", "un", "une"})
_NOT_PET_NAMES = frozenset(
    """qui mais et and but or ou un une deux trois two three le la les ils elles they he she il
    elle who which that je j i we on""".split()
)


def _pets_in_sentences(
    text: str, *, lowercase: bool
) -> tuple[list[tuple[_Draft, str, int]], set[str]]:
    """Pets listed after a first-person "I have" / "j'ai" in one sentence, and pets named in a
    sentence of their own once the message says the human has one; and the species named."""
    found: list[tuple[_Draft, str, int]] = []
    named: set[str] = set()
    owned: str | None = None  # the species of a pet the human said they have, earlier
    for start, end, question in _sentences(text):
        sentence = text[start:end]
        clauses = list(_clauses(text, start, end, lowercase=lowercase))
        if question or not clauses:
            continue
        first = clauses[0].text
        if _QUESTION_START.search(first) or _CONDITIONAL_START.search(first):
            continue
        clause = _Clause(sentence, start, lowercase, sentence_start=True, subject_free=True)
        have = _HAVE_PETS.search(sentence)
        if have and not _HEDGE.search(sentence[: have.start()]):
            # The list ends where someone else becomes the subject: "..., and my sister has".
            stop = next(
                (
                    c.start - start
                    for c in clauses
                    if c.start - start > have.end() and _other_subject(c.text)
                ),
                len(sentence),
            )
            for m in _PET_ITEM.finditer(sentence, have.end(), stop):
                species = m.group("species").lower()
                owned = owned or species
                names = re.split(r"\s*(?:,|&|\band\b|\bet\b|\bn\b)\s*", m.group("names") or "")
                quote = sentence[m.start() : m.end()]
                for said in names:
                    if not said or said.lower() in _NOT_PET_NAMES:
                        continue
                    name = _name(said, clause=clause, lenient=True, whole=False)
                    if name is None or name.lower() in _NOT_PET_NAMES:
                        continue
                    draft = _pet(name, _pet_text(species, name))
                    if draft is not None:
                        named.add(species)
                        found.append((draft, quote, start + m.start()))
                if not m.group("names") and _first_word(m.group("count")) not in _ONE:
                    said = _pet_count_text(m.group(0).strip())
                    found.append((_Draft(said, "pets", 3, None), quote, start + m.start()))
        for m in _NAMED_IT.finditer(sentence):
            species = owned if m.group("their") else owned or _first_species(text)
            if species is None:
                continue
            said = m.group("name") or m.group("name2") or m.group("name3")
            name = _name(said, clause=clause, lenient=True, whole=False)
            if name is None or name.lower() in _NOT_PET_NAMES:
                continue
            draft = _pet(name, _pet_text(species, name))
            if draft is not None:
                named.add(species)
                found.append((draft, sentence[m.start() : m.end()], start + m.start()))
    return found, named


def _first_species(text: str) -> str | None:
    m = re.search(rf"\b(?P<species>{_ALL_SPECIES_RE})\b", text, re.IGNORECASE)
    return m.group("species").lower() if m else None


def _pet_text(species: str, name: str) -> str:
    species = _squash(species)
    if species in _SPECIES_FR and species not in _SPECIES_EN:
        return f"A {_SPECIES_FR[species]} {species} qui s'appelle {name}"
    article = "an" if species[0] in "aeiou" else "a"
    return f"Has {article} {species} named {name}"


def _pet_count_text(said: str) -> str:
    if _first_word(said) in {"deux", "trois", "quatre"}:
        return f"A {_squash(said)}"
    return f"Has {_squash(said)}"


# --- forget ---------------------------------------------------------------------------------------

_FORGET = re.compile(
    r"^\W*(?:(?:please|pls|plz|hey|ok|okay|so|and|now|just|also|kitty|cat|actually"
    r"|can\s+you|could\s+you|would\s+you|will\s+you|i\s+want\s+you\s+to|i['’]d\s+like\s+you\s+to"
    r"|i\s+need\s+you\s+to|you\s+can|you\s+should|never\s*mind"
    r"|s['’]il\s+te\s+pla[iî]t|stp|svp|allez|eh|minou|chaton|bon|alors|aussi"
    r"|peux-tu|tu\s+peux|pourrais-tu|tu\s+pourrais|est-ce\s+que\s+tu\s+peux|je\s+veux\s+que\s+tu"
    r"|por\s+favor|oye|bueno|gatito|puedes|podrías|podrias|quiero\s+que)\W+)*"
    r"(?P<verb>forget|stop\s+remembering|unlearn"
    r"|oublie|oubliez|oublier|olvídate\s+de|olvidate\s+de|olvídalo|olvidalo|olvídate|olvidate"
    r"|olvida|olvides|olvidar|olvide|olvídese\s+de)\b(?P<rest>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_FORGET_LEADS = re.compile(
    r"^(?:(?:about|that|the\s+fact\s+that|all\s+about|everything\s+about|what\s+I\s+(?:just\s+)?"
    r"(?:said|told\s+you)\s+about|(?:that\s+)?I\s+(?:just\s+|ever\s+)?(?:said|told\s+you|mentioned)"
    r"(?:\s+that|\s+about)?|que|qu['’]|tout\s+sur|tout\s+ce\s+qui\s+concerne|ce\s+que\s+j['’]ai"
    r"\s+dit\s+sur|de\s+que|lo\s+de|lo\s+que\s+te\s+dije\s+(?:de|sobre))\s*)+",
    re.IGNORECASE,
)
_FORGET_TAILS = re.compile(
    r"(?:[\s,]+(?:please|pls|plz|for\s+me|forever|ok|okay|kitty|s['’]il\s+te\s+pla[iî]t|stp|svp"
    r"|por\s+favor|minou|gatito|now|thanks|thank\s+you|merci|gracias))+$",
    re.IGNORECASE,
)
_FORGET_LAST_WORDS = frozenset(
    {
        "it",
        "that",
        "this",
        "about it",
        "about that",
        "that one",
        "it all",
        "all that",
        "what i said",
        "what i just said",
        "i said that",
        "i just said that",
        "what i told you",
        "ça",
        "ca",
        "cela",
        "ceci",
        "le",
        "tout ça",
        "tout ca",
        "ce que j'ai dit",
        "ce que je viens de dire",
        "eso",
        "esto",
        "lo",
        "lo que dije",
        "lo que te dije",
    }
)


def forget_request(text: str) -> str | None:
    """What the human asks the cat to forget: "forget that I live in Lyon" gives "I live in
    Lyon", "please forget about my sister" gives "my sister", a bare "forget it" / "oublie ça" /
    "olvídalo" gives "" (the last thing mentioned), and any other message gives None.

    Only a request counts: "don't forget my birthday", "I forgot my keys" and "did you forget?"
    are not one. "Can you forget that?" is.
    """
    for start, end, _question in _sentences(text):
        sentence = text[start:end].strip()
        m = _FORGET.match(sentence)
        if m is None:
            continue
        verb = m.group("verb").lower()
        if verb in {"olvides", "olvidar"} and not re.search(
            r"\b(?:puedes|podrías|podrias|quiero\s+que)\b", sentence, re.IGNORECASE
        ):
            continue  # "no olvides", "olvidar" alone: not a request
        if verb in {"oublier"} and not re.search(
            r"\b(?:peux-tu|tu\s+peux|pourrais-tu|tu\s+pourrais|est-ce\s+que\s+tu\s+peux)\b",
            sentence,
            re.IGNORECASE,
        ):
            continue
        rest = re.sub(r"^[\s\-–—,:]+", "", m.group("rest"))
        # The request ends at the first comma: "forget it, I'll do it myself".
        rest = _FORGET_TAILS.sub("", re.split(r"\s*[,;:]\s*(?!\d)", rest, maxsplit=1)[0])
        if verb.startswith(("olvídalo", "olvidalo")) or re.match(r"^-?(?:le|la|les)\b", rest):
            rest = re.sub(r"^-?(?:le|la|les)\b", "", rest)
        rest = _FORGET_LEADS.sub("", rest.strip())
        rest = _FORGET_TAILS.sub("", rest.strip())
        rest = re.sub(r"^[\W_]+|[\W_]+$", "", rest).strip()
        if rest.lower().replace("’", "'") in _FORGET_LAST_WORDS:
            return ""
        return rest
    return None
