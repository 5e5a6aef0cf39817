"""Dates as people say and write them (March 3rd, 3/14, 2023年4月2日, 五月三号, a bare
month), moved by a client's offset and written back the same way: intervals between a
client's dates are kept, the dates themselves are not."""

from __future__ import annotations

import re
from datetime import date, timedelta

from annotate.deid.patterns import MONTH_NUMBER, MONTHS

_CN_DIGITS = "〇一二三四五六七八九"
_UNITS = "first second third fourth fifth sixth seventh eighth ninth".split()
_ORDINAL_WORDS = [
    *_UNITS,
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
    *(f"twenty-{u}" for u in _UNITS),
    "thirtieth",
    "thirty-first",
]


_ORDINAL_SUFFIX = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}


def _ordinal(day: int, model: str) -> str:
    return (
        f"{day}{_ORDINAL_SUFFIX.get(day, 'th')}"
        if re.search(r"\d(st|nd|rd|th)", model)
        else str(day)
    )


def _cn_number(value: int, model: str) -> str:
    if model and model[0].isdigit():
        return str(value)
    tens, ones = divmod(value, 10)
    if value >= 1000:
        return "".join(_CN_DIGITS[int(d)] for d in str(value))
    text = ("" if tens == 1 and value < 20 else _CN_DIGITS[tens] if tens else "") + (
        "十" if tens else ""
    )
    return text + (_CN_DIGITS[ones] if ones else "")


def _from_cn(text: str) -> int:
    if text.isdigit():
        return int(text)
    digits = {ch: i for i, ch in enumerate(_CN_DIGITS)} | {"零": 0, "两": 2}
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (digits.get(tens, 1) if tens else 1) * 10 + (digits.get(ones, 0) if ones else 0)
    return int("".join(str(digits[ch]) for ch in text))


def shift_date(text: str, days: int) -> str | None:
    """``text`` (a date as people say or write it) moved by ``days``, written the same
    way; None when it cannot be read as a date."""
    try:
        return _shift(text, days)
    except (ValueError, KeyError, IndexError):
        return None


def _shift(text: str, days: int) -> str | None:
    base_year = 2001  # not a leap year: every month-day is a date in it
    if match := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text):
        moved = date(*map(int, match.groups())) + timedelta(days=days)
        return f"{moved.year:04d}-{moved.month:02d}-{moved.day:02d}"
    if match := re.fullmatch(r"(\d{1,2})([/.])(\d{1,2})(?:[/.](\d{2,4}))?", text):
        month, sep, day, year = match.groups()
        moved = date(
            int(year) % 100 + 2000 if year else base_year, int(month), int(day)
        ) + timedelta(days=days)
        tail = (
            ""
            if year is None
            else sep + (f"{moved.year:04d}" if len(year) == 4 else f"{moved.year % 100:02d}")
        )
        return f"{moved.month}{sep}{moved.day}{tail}"
    if match := re.fullmatch(r"(?:(\S+)年)?(\S+?)月(\S+?)([日号])", text):
        year, month, day, mark = match.groups()
        moved = date(
            _from_cn(year) if year else base_year, _from_cn(month), _from_cn(day)
        ) + timedelta(days=days)
        head = f"{_cn_number(moved.year, year)}年" if year else ""
        return f"{head}{_cn_number(moved.month, month)}月{_cn_number(moved.day, day)}{mark}"
    if match := re.fullmatch(r"(\S+?)月(份|初|中|底|中旬|下旬|上旬)?", text):
        month = (_from_cn(match.group(1)) - 1 + _months(days)) % 12 + 1
        return f"{_cn_number(month, match.group(1))}月{match.group(2) or ''}"
    if match := re.fullmatch(r"(\S+?)([日号])", text):
        day = (_from_cn(match.group(1)) - 1 + days) % 28 + 1
        return f"{_cn_number(day, match.group(1))}{match.group(2)}"
    match = re.fullmatch(r"the\s+([a-z]+(?:[- ][a-z]+)?)", text, re.IGNORECASE)
    word = match.group(1).lower().replace(" ", "-") if match else ""
    if word in _ORDINAL_WORDS:  # "the twenty-sixth" -> "the 10th"
        day = (_ORDINAL_WORDS.index(word) + days) % 28 + 1
        return f"{text[:3]} {_ordinal(day, '0th')}"
    if match := re.fullmatch(r"the\s+(\d{1,2})(st|nd|rd|th)", text, re.IGNORECASE):
        day = (int(match.group(1)) - 1 + days) % 28 + 1
        return f"{text[:3]} {_ordinal(day, '0th')}"
    words = re.findall(r"[A-Za-z]+\.?|'?\d+(?:st|nd|rd|th)?", text)
    month_words = [w for w in words if w.rstrip(".").lower() in MONTH_NUMBER]
    if not month_words:
        return None
    month_word = month_words[0]
    month = MONTH_NUMBER[month_word.rstrip(".").lower()]
    numbers = [w for w in words if w[:1].isdigit() or w.startswith("'")]
    day_text = next(
        (n for n in numbers if len(n.rstrip("stndrh")) <= 2 and not n.startswith("'")), None
    )
    year_text = next(
        (n for n in numbers if len(n.rstrip("stndrh")) == 4 or n.startswith("'")), None
    )
    if day_text is None:  # a month, perhaps with its year
        moved_month = (month - 1 + _months(days)) % 12
        carry = (month - 1 + _months(days)) // 12
        name = _month_name(moved_month + 1, month_word)
        if year_text is None:
            return name
        year = int(year_text.lstrip("'"))
        year_out = (
            f"'{(year + carry) % 100:02d}" if year_text.startswith("'") else str(year + carry)
        )
        return text.replace(month_word, name).replace(year_text, year_out)
    day = int(re.sub(r"\D", "", day_text))
    year = (
        int(year_text.lstrip("'")) + (2000 if year_text and year_text.startswith("'") else 0)
        if year_text
        else base_year
    )
    moved = date(year, month, day) + timedelta(days=days)
    out = text.replace(month_word, "\0M").replace(day_text, "\0D", 1)
    if year_text:
        new_year = f"'{moved.year % 100:02d}" if year_text.startswith("'") else str(moved.year)
        out = out.replace(year_text, new_year)
    return out.replace("\0M", _month_name(moved.month, month_word)).replace(
        "\0D", _ordinal(moved.day, day_text)
    )


def _months(days: int) -> int:
    months = round(days / 30)
    return months or (1 if days > 0 else -1)


def _month_name(number: int, model: str) -> str:
    full = MONTHS[number - 1]
    if len(model.rstrip(".")) <= 4 and model.rstrip(".") != full:
        return full[:3] + ("." if model.endswith(".") else "")
    return full
