"""Find what identifies someone in talk: the Safe Harbor categories that apply to speech.

Four sources, strongest first: what is known (the session's ``names``, the lead's roster,
corrections), shapes (emails, phones, dates, IDs, ages: ``patterns``), places with a
shape (street addresses, "Maple Grove High", "华西医院"), and a lexical recogniser:
English proper nouns (capitalised where an ordinary word would not be, checked against
name and city lists and word frequencies) and Chinese part-of-speech tags (rjieba:
``nr`` people, ``ns`` places, ``nt`` organisations). Overlaps go to the longest span.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from annotate.deid import lexicon
from annotate.deid.chinese import TITLES, chinese_spans
from annotate.deid.patterns import pattern_spans

METHOD = "annotate-deid"
VERSION = "1"
CATEGORIES = ("name", "place", "date", "phone", "email", "url", "id", "age")

# when two equally long spans of equal source overlap: a number after "my number is" is
# a phone before it is an ID
_RANK = {"email": 0, "url": 1, "phone": 2, "date": 3, "age": 4, "id": 5, "name": 6, "place": 7}
_PRIORITY = {"correction": 0, "known": 1, "roster": 1, "pattern": 2, "shape": 3,
             "session": 4, "lexicon": 5}  # fmt: skip


@dataclass(frozen=True, order=True)
class Span:
    start: int
    end: int
    category: str
    text: str
    source: str


@dataclass(frozen=True)
class Known:
    """What a lead or a session file says about a client: never guessed, always replaced
    (``names``, ``places``, ``extra``), or never replaced (``keep``)."""

    names: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()
    extra: tuple[tuple[str, str], ...] = ()  # (text, category): misses marked by a lead

    def adding(self, found: Iterable[tuple[str, str]]) -> Known:
        """This and more (text, category) pairs: names and places by kind, the rest as
        ``extra``."""
        names, places, extra = list(self.names), list(self.places), list(self.extra)
        for text, category in found:
            if category == "name":
                names.append(text)
            elif category == "place":
                places.append(text)
            else:
                extra.append((text, category))
        return Known(tuple(names), tuple(places), self.keep, tuple(extra))


_CJK = re.compile(r"[\u3400-\u9fff]")
# word boundaries of Latin script: a Chinese character next to a name does not join it
_NOT_AFTER_LATIN = r"(?<![^\W\u3400-\u9fff])"
_NOT_BEFORE_LATIN = r"(?![^\W\u3400-\u9fff])"
_UPPER = "A-ZÀ-ÖØ-ÞĀĂĄĆČĎĐĒĘĚĞĪİŁŃŇŌŐŒŘŚŞŠŢŤŪŮŰŹŻŽ"
# bounded, so that a run of "A-A-A-..." costs linear time wherever a word is looked for
_WORD = rf"[{_UPPER}][a-zA-Zà-öø-ÿ{_UPPER}]{{0,40}}(?:['’-][A-Za-zà-öø-ÿ{_UPPER}]{{1,40}}){{0,4}}"
_TITLE = r"(?:Dr|Mr|Mrs|Ms|Mx|Prof|Miss|Aunt|Auntie|Uncle|Coach|Pastor|Father|Sister|Officer)"
_RELATION = (
    r"(?:sister|brother|friend|boss|partner|husband|wife|son|daughter|mom|mum|mother|dad|"
    r"father|cousin|aunt|uncle|grandma|grandmother|grandpa|grandfather|niece|nephew|neighbou?r|"
    r"co-?worker|colleague|manager|roommate|flatmate|girlfriend|boyfriend|ex|fianc[ée]e?|"
    r"teacher|therapist|doctor|supervisor|kid|stepdad|stepmom|stepmum|mate|buddy|best friend|"
    r"sponsor|landlord|lawyer|classmate|stepson|stepdaughter|baby|pastor|coach)"
)
_CUED_NAME = re.compile(
    rf"\b(?:(?i:my|her|his|our|their|your)\s+(?i:{_RELATION}),?|named|called|with|and|"
    rf"(?i:calls? me|called me|nicknamed|goes by|known as|name is|name's)\s+[\"“']?)\s*"
    rf"(?:(?P<title>{_TITLE}\.?)\s+)?(?P<name>{_WORD}(?:\s+{_WORD})?)"
)
_TITLED_NAME = re.compile(
    rf"(?<![A-Za-z])(?P<title>{_TITLE}\.?)\s+(?P<name>{_WORD}(?:\s+{_WORD})?)"
)
# "Rich said ...", "Rich is my manager": a capitalised word opening a sentence as a subject
_SUBJECT = re.compile(
    rf"(?:^|(?<=[.!?…\n\"“]\s)|(?<=[.!?…\n\"“]))({_WORD})(?:'s|’s)?\s+(?:said|says|told|asked|"
    r"called|calls|texted|texts|messaged|emailed|yelled|shouted|thinks|thought|wants|wanted|"
    r"came|comes|left|leaves|moved|died|passed|cried|laughed|lives|lived|works|worked|keeps|"
    r"kept|knows|knew|got|gets|used|uses|drives|drove|runs|ran|and I|and me|likes|liked|loves|"
    r"loved|hates|hated|needs|needed|"
    r"tried|tries|went|goes|looks|looked|seems|seemed|feels|felt|made|makes|took|takes|gave|"
    r"gives|sent|sends|wrote|writes|found|finds|brought|started|stopped|showed|turned|"
    r"(?:is|was)\s+(?:my|your|his|her|our|their)\s+"
    rf"(?i:{_RELATION}))\b"
)
# weaker: "Ezekiel is seven", "Tariq has": only for words no ordinary sentence opens with
_WEAK_SUBJECT = re.compile(
    rf"(?:^|(?<=[.!?…\n\"“]\s)|(?<=[.!?…\n\"“]))({_WORD})(?:'s|’s)?\s+(?:is|was|has|had|does|did|"
    r"doesn't|didn't|won't|can't|wouldn't|couldn't|never|always|still|just|also)\b"
)
# a name said on its own, or called to: "Tariq.", "Max, what's on top today?"
_ALONE = re.compile(rf"(?:^|(?<=[.!?…\n\"“]\s)|(?<=[.!?…\n\"“]))({_WORD})(?=[.!?]\s|[.!?]$|,\s)")
_PRONOUNS = frozenset(
    """
    He She It They We You I Nobody Everyone Everybody Someone Somebody
    That This Who What Which There Here Nothing Everything Something Anyone Anybody
    One Each Both All None Mom Mum Dad Work School Life Money
    Therapy Home Sleep Nobody's Everything's
    """.split()
)
_STREET = (
    r"(?:Street|St\.?|Road|Rd\.?|Avenue|Ave\.?|Lane|Ln\.?|Drive|Boulevard|Blvd\.?|Way|Court|"
    r"Ct\.?|Place|Terrace|Close|Crescent|Parkway|Highway|Square|Circle|Row|Hill|Gardens)"
)
_ADDRESS = re.compile(
    r"(?:(?:Flat|Apt\.?|Apartment|Unit|Suite)\s*[\w-]+,?\s+)?"
    rf"\b\d{{1,5}}[A-Za-z]?\s+(?:{_WORD}\s+){{1,3}}{_STREET}(?![a-z])"
    rf"(?:,\s+[{_UPPER}][a-z]{{2,30}}(?=[.,;!?]|$))?"
    r"(?:,?\s+(?:Apt\.?|Apartment|Unit|Suite|Flat|#)\s*[\w-]+)?"
    rf"|\b(?:{_WORD}\s+){{1,3}}(?:Street|Road|Avenue|Lane|Drive|Boulevard|Terrace|Crescent|"
    r"Court|Close|Gardens|Mews|Walk|Rise|Parade)\b"
)
_INSTITUTION = re.compile(
    rf"(?:(?:St\.|Saint)\s+)?(?:[{_UPPER}][\w'’.&-]{{0,30}}\s+(?:(?:of|the|and|&|for|de|on)\s+)?){{1,5}}"
    r"(?:High(?:\s+School)?|School|Academy|University|College|Elementary|Middle|Hospital|Clinic|"
    r"Medical(?:\s+Cent(?:er|re))?|Cent(?:er|re)|Health|Institute|Logistics|Inc\.?|Corp\.?|"
    r"Ltd\.?|LLC|Group|Bank|Foods|Systems|Solutions|Pharmacy|Mall|Library|Company|Co\.|"
    r"Partners|Associates|Consulting|Labs?|Technologies|Tech|Software|Insurance|Motors|Market|"
    r"Caf[eé]|Restaurant|Bakery|Studio|Gym|Fitness|Hotel|Church|Temple|Mosque|Synagogue|Prep|"
    r"Primary|Community\s+College|Services|Industries|Enterprises|Holdings|Stores?|"
    r"Supermarket|Diner|Pub|Nursery|Daycare|Kindergarten|Warehouse|Factory|Plant|Works|"
    r"Tavern|Bar|Grill|Inn|Lounge|Club|Salon|Garage|Dental|Surgery|Practice|Heights|Park|"
    r"Village|Valley|Hills|Springs|Falls|Beach|Harbou?r|Bay|Lake|Island|County|Township|"
    r"Borough|Estates?|Green|Plaza|Station|Airport|Stadium|Arena|Museum|Zoo|Prison|Jail|"
    r"Courthouse|Shelter|Rehab|Care\s+Home|Home|Hospice|Manor|Lodge|House|Hall|Towers|"
    r"Apartments|Residences|Campus|Depot|Yard|Farm|Ranch|Pier|Memorial|General|Infirmary|"
    r"Recovery|Wellness|Treatment\s+Center|Counseling|Counselling|Therapy|Physio|Chapel|"
    r"Seminary|Conservatory|Gymnasium|Polytechnic|Kitchen|Brewery|Motel|Hostel|Gallery|LLP|"
    r"PLC|GmbH|LP|Solicitors|Architects|Law|Legal|Accountants|Realty|Properties|Dentistry|"
    r"Optometry|Veterinary|Vets|Design|Studios|Media|Press|Publishing|Films|Theatre|Theater|"
    r"Cinema|Bakery|Butchers|Florist|Motors|Auto|Garage|Ferry|Creek|Landing|Junction|Crossing|"
    r"Point|Grove|Woods|Town|Hill|Wagon|Truck|Commons|Rooms)(?:\b|(?<=\.))"
    r"|\b(?:University|College)\s+of\s+(?:the\s+)?[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*"
)
_EMPLOYER = re.compile(
    r"\b(?:work(?:s|ed|ing)?|job|shifts?|employed|intern(?:s|ed|ing)?|volunteer(?:s|ed|ing)?|"
    r"hired|manager|teach(?:es|ing)?|nurse|study|studies|studying|enrolled)\s+(?:at|for|with|in)\s+"
    r"(?:the\s+)?([A-Z][\w'’&.-]*(?:\s+(?:of\s+|&\s+)?[A-Z][\w'’&.-]*){0,3})"
)
_LEADING_WORDS = re.compile(r"^(?:(?:The|A|An|My|Our|At|In|To|From|And|But|So|Then)\s+)+")
_PLACE_CUE = re.compile(
    r"\b(?:in|to|from|at|near|around|outside|into|towards?|via|moved|visit(?:ed|ing)?|live[sd]?|"
    r"on)\s+$",
    re.IGNORECASE,
)
# where a business or landmark is: "the Kroger on Fifth", "the Circle K on Hwy 50"
_VENUE = re.compile(
    rf"\b[Tt]he\s+((?:(?:[{_UPPER}][\w'’.]{{0,30}}|&|[a-z]{{3,12}})\s+){{0,4}}[{_UPPER}][\w'’.]{{0,30}}"
    r"(?:\s+[a-z]{3,12})?\s+(?:on|in|off|by)\s+"
    rf"(?:(?:Route|Rte\.?|Hwy|Highway|Interstate|I-)\s*\d+|[{_UPPER}][\w'’-]{{0,30}}"
    r"(?:\s+(?:Road|Street|Avenue|Ave|Lane|Drive|Boulevard|Way|Pike|Square))?))"
)
# a business named for someone, said with its possessive: "at Dooley's", "from Caruso's"
_POSSESSIVE_PLACE = re.compile(
    rf"\b(?i:at|from|to|near|outside|behind|by)\s+(?:the\s+)?([{_UPPER}][\w-]{{0,30}}"
    rf"(?:\s+[{_UPPER}][\w-]{{0,30}})?['’]s?)(?![\w'’])(?!\s+(?:house|place|home|flat|apartment|room|"
    r"mom|mum|dad|car|family|kids?|wedding|funeral|party))"
)
_FIRM = re.compile(
    rf"\b[{_UPPER}][\w'’]{{1,30}}\s+&\s+[{_UPPER}][\w'’]{{1,30}}(?:\s+[{_UPPER}][a-z]{{2,30}}){{0,2}}"
)
# a venue named after its kind, a road by its number, a prison
_KIND_FIRST = re.compile(
    rf"\b(?:Cafe|Café|Hotel|Restaurant|Bar|Club|Studio|Gym|Clinic|Hospital|Camp|Lake|Mount|Fort|"
    rf"Port|HMP|HMS|USS|RAF|NAS)\s+[{_UPPER}][\w'’-]{{1,30}}"
    r"|\b(?:Route|Rte\.?|Highway|Hwy|Interstate)\s?\d{1,3}\b"
)
_SAINT = re.compile(rf"\b(?:St\.?|Saint|Our Lady of)\s+[{_UPPER}][a-z]{{1,30}}(?:['’]s)?")
_SCHOOL_NUMBER = re.compile(r"\b(?:PS|P\.S\.|IS|MS|JHS|HS)\s?\d{1,3}\b")
_CHURCH = re.compile(
    r"\b(?:First|Second|Third|Holy|Grace|Trinity|Calvary|Bethel|Zion|Emmanuel)\s+"
    r"(?:Methodist|Baptist|Presbyterian|Lutheran|Episcopal|Congregational|Church|Cross|Chapel|"
    r"Tabernacle|Assembly)\b"
)
_SITE = re.compile(
    rf"\b([{_UPPER}][\w'’-]{{1,30}})\s+(?:campus|branch|office|plant|site|location|store|parish)\b"
)
# a capitalised word opening with a single initial: "T. Ferreira-Lund"
_INITIALED = re.compile(rf"(?<![\w.])[{_UPPER}]\.\s+({_WORD})")
_VOCATIVE = re.compile(
    rf"(?:^|(?<=[.!?…\n\"“]\s))({_WORD}),\s+(?:you|your|how|what|can|do|did|are|is|tell|let|we|"
    r"I|i|would|could|when|where|why|welcome|thanks|thank|good|nice|it's|that's)\b"
)
_FAMILY = re.compile(rf"\b({_WORD})\s+family\b")
_PETS = (
    r"(?:dog|cat|puppy|kitten|pet|hamster|parrot|bird|horse|rabbit|bunny|fish|tortoise|turtle|"
    r"pony|goldfish|budgie)"
)
_PET = re.compile(
    rf"\b{_PETS},?\s+(?:named\s+|called\s+)?({_WORD})|({_WORD}),?\s+(?:the|my|our)\s+{_PETS}\b"
)
# capitalised words that open a clause and name nothing: they do not join a name's run
_RUN_BREAKERS = frozenset(
    """
    From To In At On And But So Then With Like Near Outside For Of By Anyway Well Maybe Yeah
    Yes No Okay Ok Honestly Um Uh Oh Also Plus Now Still Just Because Since After Before
    When While If Or Nor Yet Once Until Unless Though Although Even Only Really Actually
    Basically Sometimes Usually Always Never Again Today Tonight Yesterday Tomorrow Last Next
    This That These Those The A An My Our Your His Her Their Its Not Hey Hi Hello Please
    Sorry Thanks Thank Right Sure Look Listen See Like Whatever
    """.split()
)
_SENTENCE_END = set(".!?:;\"“”‘'(…—–-\n")
_FUNCTION_WORD = 5.8  # Zipf of "how", "there": words that open sentences, never names
_COMMON_NAME = 4.0
_DRUG = re.compile(
    r"(?:pril|olol|statin|azepam|zolam|oxetine|pine|done|cillin|mycin|prazole|tidine|sartan|"
    r"formin|triptyline|codone|profen|amine|azine|idone|apine|xetine|alopram|faxine|"
    r"thiazide|semide|mab|nib|vir)$",
    re.IGNORECASE,
)
_RARE = 2.8
# Zipf: a rarer capitalised word opening a sentence is most likely a name; said on its
# own ("Tariq."), a little more common still
_ALONE_RARE = 3.3
_WORD_ENDING = re.compile(
    r"(?:ing|ed|ly|tion|sion|ness|ment|ful|less|ous|ive|able|ible|ism|ist|ity|[^s]s)$"
)  # Zipf: at or above it a capitalised word is as likely an ordinary one


def detect(text: str, language: str = "en", known: Known = Known()) -> list[Span]:
    """The identifiers in ``text``, sorted and non-overlapping."""
    return detect_turns([text], language, known)[0]


def detect_turns(
    texts: Sequence[str], language: str = "en", known: Known = Known()
) -> list[list[Span]]:
    """The identifiers of a whole session (or any texts of one client): a name or place
    found anywhere is found everywhere it is written the same way, and an identifier said
    in two turns (a phone number in two parts) is found in both."""
    found = [_candidates(text, language, known) for text in texts]
    _split_over_turns(texts, found)
    learned = {
        (span.text, span.category)
        for spans in found
        for span in spans
        if span.category in ("name", "place") and len(span.text) >= 2
    }
    for form, category in list(learned):  # 建国 and 老王 once 王建国 is known
        if category == "name" and _CJK.search(form) and len(form) >= 3:
            learned |= {(f, "name") for f in _name_forms(form)[1:2]}
    for index, text in enumerate(texts):
        found[index].extend(_occurrences(text, learned, "session"))
    keep = {k.casefold() for k in known.keep}
    keep |= {(m.group(1) or m.group(2)).casefold() for text in texts for m in _PET.finditer(text)}
    return [_settle(spans, keep) for spans in found]


def _candidates(text: str, language: str, known: Known) -> list[Span]:
    spans = [Span(s, e, c, text[s:e], "pattern") for s, e, c in pattern_spans(text)]
    spans.extend(_known_spans(text, known))
    spans.extend(_english_places(text))
    spans.extend(_english_names(text))
    if language.startswith("zh") or _CJK.search(text):
        spans.extend(_latin_in_chinese(text))
        spans.extend(Span(s, e, c, text[s:e], source) for s, e, c, source in chinese_spans(text))
    return spans


_LATIN_IN_CHINESE = re.compile(
    r"(?:(?<=[\u3400-\u9fff，。、：；！？“”（）])|^)([A-Z][a-z]{1,15}(?: [A-Z][a-z]{1,15}){0,3})"
    r"(?=[\u3400-\u9fff，。、：；！？“”（）]|$)"
)


_PLACE_KIND_END = re.compile(
    r" (?:Hill|Park|Street|Road|Avenue|Square|Bay|Beach|Heights|Village|Centre|Center|Mall)$"
)


def _latin_in_chinese(text: str) -> Iterable[Span]:
    """A Latin-script name among Chinese words (组长Amy, Kevin，你好): people, not words."""
    for match in _LATIN_IN_CHINESE.finditer(text):
        word = match.group(1)
        if word not in lexicon.NOT_IDENTIFYING and word not in _RUN_BREAKERS:
            place = word in lexicon.cities()[0] or _PLACE_KIND_END.search(word)
            yield Span(match.start(1), match.end(1), "place" if place else "name", word, "lexicon")


def _settle(spans: Iterable[Span], keep: set[str]) -> list[Span]:
    """The longest of overlapping spans (the stronger source when equally long)."""
    # a lead's corrections first, then the longest; ties in a fixed order
    ordered = sorted(
        spans,
        key=lambda s: (s.source != "correction", -(s.end - s.start),
                       _PRIORITY[s.source], _RANK[s.category], s.start, s.text),
    )  # fmt: skip
    taken = bytearray(max((s.end for s in ordered), default=0))
    chosen: list[Span] = []
    for span in ordered:
        if span.end <= span.start or _kept(span.text, keep):
            continue
        if any(taken[span.start : span.end]):
            rest = _trimmed(span, taken)  # what is left of it beside a correction
            if rest is None:
                continue
            span = rest
        chosen.append(span)
        taken[span.start : span.end] = b"\x01" * (span.end - span.start)
    return sorted(chosen)


_CONNECTORS = re.compile(
    r"^(?:\s|on\b|in\b|at\b|the\b|and\b|of\b|,)+|(?:\s|\bon|\bin|\bat|\bthe|\band|\bof|,)+$"
)


def _trimmed(span: Span, taken: bytearray) -> Span | None:
    """The longest free stretch of ``span`` beside what is taken, without connecting words
    at its ends ("Albemarle Rooms on" beside "Thursday the 9th": "Albemarle Rooms")."""
    best: tuple[int, int] | None = None
    start = None
    for position in range(span.start, span.end + 1):
        free = position < span.end and not taken[position]
        if free and start is None:
            start = position
        elif not free and start is not None:
            if best is None or position - start > best[1] - best[0]:
                best = (start, position)
            start = None
    if best is None:
        return None
    text = span.text[best[0] - span.start : best[1] - span.start]
    stripped = _CONNECTORS.sub("", text)
    if len(stripped) < 2 or span.category not in ("name", "place"):
        return None
    offset = best[0] + text.index(stripped)
    return Span(offset, offset + len(stripped), span.category, stripped, span.source)


def _kept(text: str, keep: set[str]) -> bool:
    """A lead unmarked this text, or a text holding it ("22 Alder Road" keeps "Alder Road")."""
    folded = text.casefold()
    return folded in keep or any(folded in kept for kept in keep if len(kept) > len(folded))


def _name_forms(name: str) -> list[str]:
    """A known name and the ways it is said: each part of 'Dana Whitfield'; 建国, 小国 and
    老王 for 王建国."""
    name = name.strip()
    if not name:
        return []
    if _CJK.search(name):
        forms = [name]
        if len(name) >= 3 and name[1:] not in TITLES:
            surname, given = name[0], name[1:]
            forms += [given, "老" + surname, "小" + surname, "小" + given[-1], "阿" + given[-1]]
        return forms
    parts = [p for p in re.split(r"\s+", name) if len(p) >= 2]
    return [name, *parts]


def _known_spans(text: str, known: Known) -> Iterable[Span]:
    wanted: list[tuple[str, str, str]] = []
    for name in known.names:
        wanted += [(form, "name", "known") for form in _name_forms(name)]
    wanted += [(place, "place", "known") for place in known.places]
    wanted += [(item, category, "correction") for item, category in known.extra]
    for form, category, source in sorted(set(wanted)):
        for start, end in _find(text, form):
            yield Span(start, end, category, text[start:end], source)


def _find(text: str, form: str) -> Iterable[tuple[int, int]]:
    """Where ``form`` is written in ``text``: whole words for Latin script (ignoring case
    unless the form is also an ordinary word), anywhere for Chinese."""
    if not form:
        return
    if _CJK.search(form):
        start = text.find(form)
        while start >= 0:
            yield start, start + len(form)
            start = text.find(form, start + len(form))
        return
    for match in _form_pattern(form).finditer(text):
        yield match.start(), match.end()


@cache
def _form_pattern(form: str) -> re.Pattern[str]:
    """A known Latin-script form as a whole word, ignoring case unless it is also an
    ordinary word (compiled once: a session asks for the same names in every turn)."""
    flags = 0 if lexicon.common(form) >= _COMMON_NAME or not form.isalpha() else re.IGNORECASE
    return re.compile(rf"{_NOT_AFTER_LATIN}{re.escape(form)}{_NOT_BEFORE_LATIN}", flags)


def _occurrences(text: str, learned: set[tuple[str, str]], source: str) -> Iterable[Span]:
    """Every place a learned name or place is written the same way: forms indexed by their
    first character, so one pass over ``text`` costs the same however many were learned."""
    by_first: dict[str, list[tuple[str, str]]] = {}
    for form, category in sorted(learned, key=lambda fc: (-len(fc[0]), fc)):
        if _CJK.search(form) or not form[:1].islower():
            by_first.setdefault(form[0], []).append((form, category))
    if not by_first:
        return
    position = 0
    while position < len(text):
        for form, category in by_first.get(text[position], ()):
            end = position + len(form)
            if text.startswith(form, position) and (
                _CJK.match(form) or _word_bounded(text, position, end)
            ):
                yield Span(position, end, category, form, source)
                position = end - 1
                break
        position += 1


def _word_bounded(text: str, start: int, end: int) -> bool:
    """No letter or digit of a Latin-script word touches [start, end) (Chinese may)."""
    return (start == 0 or not _latin_word_char(text[start - 1])) and (
        end == len(text) or not _latin_word_char(text[end])
    )


def _latin_word_char(char: str) -> bool:
    return char.isalnum() and not _CJK.match(char)


def _english_places(text: str) -> Iterable[Span]:
    for pattern, group in ((_VENUE, 1), (_POSSESSIVE_PLACE, 1), (_SAINT, 0), (_SCHOOL_NUMBER, 0),
                           (_CHURCH, 0), (_SITE, 0), (_FIRM, 0), (_KIND_FIRST, 0)):  # fmt: skip
        for match in pattern.finditer(text):
            first_word = match.group(group).split()[0]
            several = " " in match.group(group)
            if first_word not in lexicon.NOT_IDENTIFYING or group == 0 or several:
                start, end = match.start(group), match.end(group)
                yield Span(start, end, "place", text[start:end], "shape")
    for match in _EMPLOYER.finditer(text):
        words = match.group(1).rstrip(".").split()
        kept = list(itertools.takewhile(lambda w: w not in lexicon.NOT_IDENTIFYING, words))
        if kept and kept[0] not in lexicon.not_places():
            end = match.start(1) + len(" ".join(kept))
            yield Span(match.start(1), end, "place", text[match.start(1) : end], "shape")
    for pattern in (_ADDRESS, _INSTITUTION):
        for match in pattern.finditer(text):
            start, end = match.start(), match.end()
            lead = _LEADING_WORDS.match(match.group())
            if lead:
                start += lead.end()
            words = text[start:end].split()
            if text[start:end] in lexicon.not_places():  # Rhode Island, Long Island
                continue
            if end - start >= 4 and (words[0] not in lexicon.NOT_IDENTIFYING or len(words) >= 2):
                yield Span(start, end, "place", text[start:end], "shape")


def _sentence_start(text: str, position: int) -> bool:
    before = text[max(0, position - 40) : position].rstrip()
    if not before:
        return position < 40 or not text[:position].strip()
    if re.search(rf"\b{_TITLE}\.$", before) or before.endswith("St."):
        return False
    return before[-1] in _SENTENCE_END


def _english_names(text: str) -> Iterable[Span]:
    for match in _CUED_NAME.finditer(text):
        words = match.group("name").split()
        good = [w for w in words if w not in lexicon.NOT_IDENTIFYING]
        cue = match.group().split()[0].lower()
        if good and good[0] == words[0] and (cue not in ("with", "and") or _is_name_word(words[0])):
            start = match.start("title") if match.group("title") else match.start("name")
            end = match.start("name") + len(" ".join(good[:1] if len(good) < len(words) else good))
            if text[start:end].endswith(("'s", "’s")):
                end -= 2
            yield Span(start, end, "name", text[start:end], "lexicon")
    for match in _TITLED_NAME.finditer(text):  # "Dr. Ifeoma Sallah-Craig": title and name
        words = match.group("name").split()
        if words[0] in lexicon.NOT_IDENTIFYING:
            continue
        end = match.start("name") + len(words[0])
        if len(words) > 1 and words[1] not in lexicon.NOT_IDENTIFYING:
            end = match.end("name")
        start = match.start("title")
        yield Span(start, end, "name", text[start:end], "lexicon")
    for pattern in (_INITIALED, _VOCATIVE, _FAMILY):
        for match in pattern.finditer(text):
            word = match.group(1)
            if word in _PRONOUNS or word in lexicon.NOT_IDENTIFYING or word in _RUN_BREAKERS:
                continue
            ordinary = lexicon.common(word) >= _ALONE_RARE or _WORD_ENDING.search(word.lower())
            if pattern is _VOCATIVE and ordinary and word not in lexicon.first_names():
                continue  # "Jealous, I guess"
            start = match.start() if pattern is _INITIALED else match.start(1)
            yield Span(start, match.end(1), "name", text[start : match.end(1)], "lexicon")
    for match in _SUBJECT.finditer(text):
        word = match.group(1)
        if (
            word not in _PRONOUNS
            and re.split("['’]", word)[0] not in _PRONOUNS  # They've, She'd
            and word not in lexicon.NOT_IDENTIFYING
            and (lexicon.common(word) < _FUNCTION_WORD or word in lexicon.first_names())
            and (word in lexicon.first_names() or not _WORD_ENDING.search(word.lower()))
        ):
            yield Span(match.start(1), match.end(1), "name", word, "lexicon")
    for match in _WEAK_SUBJECT.finditer(text):
        word = match.group(1)
        if (
            word not in _PRONOUNS
            and word not in lexicon.NOT_IDENTIFYING
            and (_is_name_word(word) or lexicon.common(word) < _RARE)
        ):
            yield Span(match.start(1), match.end(1), "name", word, "lexicon")
    for match in _ALONE.finditer(text):
        word = match.group(1)
        comma = text[match.end(1) : match.end(1) + 1] == ","
        if word in _PRONOUNS or word in lexicon.NOT_IDENTIFYING or _DRUG.search(word):
            continue
        rare = lexicon.common(word) < _ALONE_RARE and not _WORD_ENDING.search(word.lower())
        if word in lexicon.first_names() or (not comma and rare):
            yield Span(match.start(1), match.end(1), "name", word, "lexicon")
    cities, _ = lexicon.cities()
    for run in _capital_runs(text):
        start, end = run[0][0], run[-1][1]
        words = [text[s:e] for s, e in run]
        phrase = " ".join(words)
        first = _sentence_start(text, start)
        possessive = text[end : end + 2] in ("'s", "’s")
        category = _classify(words, phrase, first, text[max(0, start - 40) : start], cities)
        if category is None and possessive and not first and phrase not in lexicon.not_places():
            category = "name"  # "staying at Sunny's"
        if category is not None:
            if first and category == "name" and len(run) > 1 and not _is_name_word(words[0]):
                start = run[1][0]  # "Yesterday Marcus ..." : the first word opened the sentence
            yield Span(start, end, category, text[start:end], "lexicon")


def _is_name_word(word: str) -> bool:
    return word in lexicon.first_names() or word in lexicon.last_names()


def _classify(
    words: list[str], phrase: str, first: bool, before: str, cities: frozenset[str]
) -> str | None:
    """'name', 'place' or None for a run of capitalised words."""
    if phrase in lexicon.not_places() or phrase in _NOT_IDENTIFYING_PHRASES:
        return None
    if len(words) == 1 and _DRUG.search(words[0]) and words[0] not in lexicon.first_names():
        return None
    if phrase in cities:
        if first and lexicon.common(phrase) >= _COMMON_NAME and len(words) == 1:
            return None
        return "place"
    named = [w for w in words if _is_name_word(w)]
    rare = [w for w in words if lexicon.common(w) < _COMMON_NAME]
    if first and len(words) == 1:
        word = words[0]
        if word in lexicon.first_names() and lexicon.common(word) < _COMMON_NAME:
            return "name"
        if word in lexicon.last_names() and lexicon.common(word) < 3.5:
            return "name"
        rare_word = lexicon.common(word) < _RARE and not _WORD_ENDING.search(word.lower())
        return "name" if rare_word and word.isalpha() else None
    if first and not (named or len(rare) >= 2):
        return None
    if not (named or rare):
        if first:
            return None
        # "in Oak Park": ordinary words, capitalised, after a place cue; "told Sunny":
        # capitalised where an ordinary word would not be
        return "place" if len(words) >= 2 and _PLACE_CUE.search(before) else "name"
    if _PLACE_CUE.search(before) and not named:
        return "place"
    return "name"


def _capital_runs(text: str) -> list[list[tuple[int, int]]]:
    """Runs of capitalised words joined by single spaces, without words that identify
    nobody, possessive 's left out."""
    runs: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    for match in re.finditer(_WORD, text):
        start, end = match.start(), match.end()
        word = match.group()
        if word.endswith(("'s", "’s")):
            end -= 2
            word = word[:-2]
        if (
            word in lexicon.NOT_IDENTIFYING
            or word in _RUN_BREAKERS
            or (start > 0 and text[start - 1].isalpha())  # "Pad" of "iPad"
            or word.isupper()
            or word.lower() in _MONTH_WORDS
            or not any(ch.islower() for ch in word)
        ):
            if current:
                runs.append(current)
            current = []
            continue
        if current and not _RUN_GAP.fullmatch(text[current[-1][1] : start]):
            runs.append(current)
            current = []
        current.append((start, end))
        if end != match.end():  # a possessive ends the run
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


_RUN_GAP = re.compile(
    r" (?:(?:van|der|den|de|da|di|del|della|la|le|von|zu|bin|ibn|al|el|dos|das|du|des|ter|ten|"
    r"y|e|St\.) )*"
)
_NOT_IDENTIFYING_PHRASES = frozenset(
    [
        "Ivy League",
        "Easter Monday",
        "Good Friday",
        "Black Friday",
        "New Year",
        "New Year's",
        "Father Christmas",
        "Santa Claus",
        "Holy Spirit",
        "Big Ben",
        "Mother's Day",
        "Father's Day",
        "Valentine's Day",
        "Boxing Day",
        "Labor Day",
        "Memorial Day",
        "Cyber Monday",
        "Ash Wednesday",
        "Palm Sunday",
        "Easter Sunday",
        "Christmas Eve",
        "Saint Patrick's Day",
        "St. Patrick's Day",
        "Game of Thrones",
    ]
)
_MONTH_WORDS = frozenset(
    [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ]
)


def _split_over_turns(texts: Sequence[str], found: list[list[Span]]) -> None:
    """A number begun at the end of one turn and finished at the start of the next turn of
    the same speaker (the other's "sorry, go on" may come between)."""
    tail = re.compile(r"(?:\+?\d[\d\s().-]{2,}\d)[\s.…-]*$")
    head = re.compile(r"^[\s.…-]*(\d[\d\s.-]*\d|\d)")
    for index in range(len(texts) - 1):
        offset = max(
            0, len(texts[index]) - 40
        )  # the end of a turn: searching all of it is quadratic
        end = tail.search(texts[index], offset)
        if end is None:
            continue
        for following in (index + 1, index + 2):
            start = head.search(texts[following]) if following < len(texts) else None
            if start is None:
                continue
            digits = sum(c.isdigit() for c in end.group() + start.group(1))
            if digits >= 7:
                found[index].append(Span(end.start(), end.end(), "phone", end.group(), "pattern"))
                s, e = start.start(1), start.end(1)
                found[following].append(Span(s, e, "phone", texts[following][s:e], "pattern"))
                break
