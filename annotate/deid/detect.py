"""Find what identifies someone in talk: the Safe Harbor categories that apply to speech.

Four sources, strongest first: what is known (the session's ``names``, the lead's roster,
corrections), shapes (emails, phones, dates, IDs, ages: ``patterns``), places with a
shape (street addresses, "Maple Grove High", "华西医院"), and a lexical recogniser:
English proper nouns (capitalised where an ordinary word would not be, checked against
name and city lists and word frequencies) and Chinese part-of-speech tags (rjieba:
``nr`` people, ``ns`` places, ``nt`` organisations). Overlaps go to the longest span.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from annotate.deid import lexicon
from annotate.deid.patterns import pattern_spans

METHOD = "annotate-deid"
VERSION = "1"
CATEGORIES = ("name", "place", "date", "phone", "email", "url", "id", "age")

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


_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = r"[A-Z][a-zA-Z]*(?:['’-][A-Za-z]+)*"
_TITLE = r"(?:Dr|Mr|Mrs|Ms|Mx|Prof|Miss|Aunt|Auntie|Uncle|Coach|Pastor|Father|Sister|Officer)"
_RELATION = (
    r"(?:sister|brother|friend|boss|partner|husband|wife|son|daughter|mom|mum|mother|dad|"
    r"father|cousin|aunt|uncle|grandma|grandmother|grandpa|grandfather|niece|nephew|neighbou?r|"
    r"co-?worker|colleague|manager|roommate|flatmate|girlfriend|boyfriend|ex|fianc[ée]e?|"
    r"teacher|therapist|doctor|supervisor|kid|stepdad|stepmom|stepmum|mate|buddy|best friend|"
    r"sponsor|landlord|lawyer|classmate|stepson|stepdaughter|baby|dog|cat|pastor|coach)"
)
_CUED_NAME = re.compile(
    rf"\b(?:(?:my|her|his|our|their|your)\s+{_RELATION}|named|called|with|and|"
    rf"{_TITLE}\.?)\s+({_WORD}(?:\s+{_WORD})?)"
)
_STREET = (
    r"(?:Street|St\.?|Road|Rd\.?|Avenue|Ave\.?|Lane|Ln\.?|Drive|Boulevard|Blvd\.?|Way|Court|"
    r"Ct\.?|Place|Terrace|Close|Crescent|Parkway|Highway|Square|Circle|Row|Hill|Gardens)"
)
_ADDRESS = re.compile(
    rf"\b\d{{1,5}}[A-Za-z]?\s+(?:{_WORD}\s+){{1,3}}{_STREET}(?![a-z])"
    r"(?:,?\s+(?:Apt\.?|Apartment|Unit|Suite|Flat|#)\s*[\w-]+)?"
    rf"|\b(?:{_WORD}\s+){{1,3}}(?:Street|Road|Avenue|Lane|Drive|Boulevard|Terrace|Crescent)\b"
)
_INSTITUTION = re.compile(
    r"(?:(?:St\.|Saint)\s+)?(?:[A-Z][\w'’.&-]*\s+(?:(?:of|the|and|&|for|de|on)\s+)?){1,5}"
    r"(?:High(?:\s+School)?|School|Academy|University|College|Elementary|Middle|Hospital|Clinic|"
    r"Medical(?:\s+Cent(?:er|re))?|Cent(?:er|re)|Health|Institute|Logistics|Inc\.?|Corp\.?|"
    r"Ltd\.?|LLC|Group|Bank|Foods|Systems|Solutions|Pharmacy|Mall|Library|Company|Co\.|"
    r"Partners|Associates|Consulting|Labs?|Technologies|Tech|Software|Insurance|Motors|Market|"
    r"Caf[eé]|Restaurant|Bakery|Studio|Gym|Fitness|Hotel|Church|Temple|Mosque|Synagogue|Prep|"
    r"Primary|Community\s+College|Services|Industries|Enterprises|Holdings|Stores?|"
    r"Supermarket|Diner|Pub|Nursery|Daycare|Kindergarten|Warehouse|Factory|Plant|Works)\b"
    r"|\b(?:University|College)\s+of\s+(?:the\s+)?[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)*"
)
_LEADING_WORDS = re.compile(r"^(?:(?:The|A|An|My|Our|At|In|To|From|And|But|So|Then)\s+)+")
_PLACE_CUE = re.compile(
    r"\b(?:in|to|from|at|near|around|outside|into|towards?|via|moved|visit(?:ed|ing)?|live[sd]?)\s+$"
)
_SENTENCE_END = set(".!?:;\"“”‘'(…—–-\n")
_COMMON_NAME = 4.0  # Zipf: at or above it a capitalised word is as likely an ordinary one

_CN_NAME_TAGS = {"nr", "nrfg", "nrt"}
_CN_PLACE_TAGS = {"ns", "nt", "nsf"}
_CN_SUFFIX = re.compile(
    r"(?:路|街|大街|大道|巷|弄|胡同|小区|花园|公寓|区|县|镇|乡|村|市|中学|小学|大学|学院|高中|初中|"
    r"医院|诊所|卫生院|公司|集团|银行|酒店|超市|广场|大厦|中心|幼儿园|科技|有限公司|餐厅|工厂|研究所|"
    r"事务所|门诊|分行|支行|商场)$"
)
_CN_ORDINAL = re.compile(r"^第[一二三四五六七八九十\d]+$")
_CN_ADDRESS = re.compile(
    r"[\u4e00-\u9fff]{2,6}(?:路|街|大道|巷|弄)\d+号(?:院)?(?:\d+栋)?(?:\d+单元)?(?:\d+室)?"
)
_CN_FUNCTION_CHARS = frozenset("在住到去从我你他她的是于和跟往回搬")
_CN_NICKNAME = re.compile(r"(?:小|老|阿)[\u4e00-\u9fff]")
_CN_NOT_NAMES = frozenset(
    [
        "小时",
        "小心",
        "小孩",
        "小姐",
        "老师",
        "老板",
        "老公",
        "老婆",
        "老家",
        "老人",
        "老实",
        "阿姨",
        "小学",
        "老大",
        "小区",
    ]
)


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
    return [_settle(spans, keep) for spans in found]


def _candidates(text: str, language: str, known: Known) -> list[Span]:
    spans = [Span(s, e, c, text[s:e], "pattern") for s, e, c in pattern_spans(text)]
    spans.extend(_known_spans(text, known))
    spans.extend(_english_places(text))
    spans.extend(_english_names(text))
    if language.startswith("zh") or _CJK.search(text):
        spans.extend(_chinese(text))
    return spans


def _settle(spans: Iterable[Span], keep: set[str]) -> list[Span]:
    """The longest of overlapping spans (the stronger source when equally long)."""
    chosen: list[Span] = []
    taken: list[tuple[int, int]] = []
    ordered = sorted(spans, key=lambda s: (-(s.end - s.start), _PRIORITY[s.source], s.start))
    for span in ordered:
        if span.end <= span.start or span.text.casefold() in keep:
            continue
        if any(span.start < end and start < span.end for start, end in taken):
            continue
        chosen.append(span)
        taken.append((span.start, span.end))
    return sorted(chosen)


def _name_forms(name: str) -> list[str]:
    """A known name and the ways it is said: each part of 'Dana Whitfield'; 建国, 小国 and
    老王 for 王建国."""
    name = name.strip()
    if not name:
        return []
    if _CJK.search(name):
        forms = [name]
        if len(name) >= 3:
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
    for form, category, source in wanted:
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
    flags = 0 if lexicon.common(form) >= _COMMON_NAME or not form.isalpha() else re.IGNORECASE
    for match in re.finditer(rf"(?<![\w]){re.escape(form)}(?![\w])", text, flags):
        yield match.start(), match.end()


def _occurrences(text: str, learned: set[tuple[str, str]], source: str) -> Iterable[Span]:
    for form, category in learned:
        if not _CJK.search(form) and form[:1].islower():
            continue
        for start, end in _find_exact(text, form):
            yield Span(start, end, category, form, source)


def _find_exact(text: str, form: str) -> Iterable[tuple[int, int]]:
    if _CJK.search(form):
        yield from _find(text, form)
        return
    for match in re.finditer(rf"(?<![\w]){re.escape(form)}(?![\w])", text):
        yield match.start(), match.end()


def _english_places(text: str) -> Iterable[Span]:
    for pattern in (_ADDRESS, _INSTITUTION):
        for match in pattern.finditer(text):
            start, end = match.start(), match.end()
            lead = _LEADING_WORDS.match(match.group())
            if lead:
                start += lead.end()
            if end - start >= 4 and text[start:end].split()[0] not in lexicon.NOT_IDENTIFYING:
                yield Span(start, end, "place", text[start:end], "shape")


def _sentence_start(text: str, position: int) -> bool:
    before = text[:position].rstrip()
    if not before:
        return True
    if re.search(rf"\b{_TITLE}\.$", before) or before.endswith("St."):
        return False
    return before[-1] in _SENTENCE_END


def _english_names(text: str) -> Iterable[Span]:
    for match in _CUED_NAME.finditer(text):
        words = match.group(1).split()
        good = [w for w in words if w not in lexicon.NOT_IDENTIFYING]
        if (
            good
            and good[0] == words[0]
            and (match.group().split()[0].lower() not in ("with", "and") or _is_name_word(words[0]))
        ):
            end = match.start(1) + len(" ".join(good[:1] if len(good) < len(words) else good))
            yield Span(match.start(1), end, "name", text[match.start(1) : end], "lexicon")
    cities, _ = lexicon.cities()
    for run in _capital_runs(text):
        start, end = run[0][0], run[-1][1]
        words = [text[s:e] for s, e in run]
        phrase = " ".join(words)
        first = _sentence_start(text, start)
        category = _classify(words, phrase, first, text[:start], cities)
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
    if phrase in lexicon.not_places():
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
        return "name" if word in lexicon.last_names() and lexicon.common(word) < 3.5 else None
    if first and not (named or len(rare) >= 2):
        return None
    if not (named or rare):
        return None
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
            or word.isupper()
            or word.lower() in _MONTH_WORDS
            or not any(ch.islower() for ch in word)
        ):
            if current:
                runs.append(current)
            current = []
            continue
        if current and text[current[-1][1] : start] not in (" ",):
            runs.append(current)
            current = []
        current.append((start, end))
        if end != match.end():  # a possessive ends the run
            runs.append(current)
            current = []
    if current:
        runs.append(current)
    return runs


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


def _chinese(text: str) -> Iterable[Span]:
    import rjieba

    position = 0
    tokens: list[tuple[int, int, str, str]] = []
    for word, tag in rjieba.tag(text):
        tokens.append((position, position + len(word), word, tag))
        position += len(word)
    _, chinese_cities = lexicon.cities()
    for index, (start, end, word, tag) in enumerate(tokens):
        if tag in _CN_NAME_TAGS and len(word) >= 2 and word not in _CN_NOT_NAMES:
            yield Span(start, end, "name", word, "lexicon")
        elif (
            (tag in _CN_PLACE_TAGS or word in chinese_cities)
            and len(word) >= 2
            and word not in lexicon.CHINESE_PROVINCES
        ):
            yield Span(start, end, "place", word, "lexicon")
        if _CN_SUFFIX.search(word):
            head = index
            while head > 0 and (
                tokens[head - 1][3] in _CN_PLACE_TAGS | _CN_NAME_TAGS | {"nz", "j"}
                or _CN_ORDINAL.match(tokens[head - 1][2])
                or _CN_SUFFIX.search(tokens[head - 1][2])
                and tokens[head - 1][3] != "n"
            ):
                head -= 1
            proper = head < index or (tag in _CN_PLACE_TAGS | {"nz"} and len(word) > 2)
            if proper:
                first = tokens[head][0]
                if text[first:end] not in lexicon.CHINESE_PROVINCES:
                    yield Span(first, end, "place", text[first:end], "shape")
    for match in _CN_ADDRESS.finditer(text):
        start = match.start()
        while text[start] in _CN_FUNCTION_CHARS:
            start += 1
        yield Span(start, match.end(), "place", text[start : match.end()], "shape")
    for match in _CN_NICKNAME.finditer(text):
        if match.group() not in _CN_NOT_NAMES and any(
            t[0] <= match.start() < t[1] and t[3] in _CN_NAME_TAGS for t in tokens
        ):
            yield Span(match.start(), match.end(), "name", match.group(), "lexicon")


def _split_over_turns(texts: Sequence[str], found: list[list[Span]]) -> None:
    """A number begun at the end of one turn and finished at the start of the next."""
    tail = re.compile(r"(?:\+?\d[\d\s().-]{2,}\d)[\s.-]*$")
    head = re.compile(r"^[\s.…-]*(\d[\d\s.-]*\d|\d)")
    for index in range(len(texts) - 1):
        end = tail.search(texts[index])
        start = head.search(texts[index + 1])
        if end is None or start is None:
            continue
        digits = sum(c.isdigit() for c in end.group() + start.group(1))
        if digits >= 7:
            found[index].append(Span(end.start(), end.end(), "phone", end.group(), "pattern"))
            s, e = start.start(1), start.end(1)
            found[index + 1].append(Span(s, e, "phone", texts[index + 1][s:e], "pattern"))
