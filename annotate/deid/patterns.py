"""Identifiers with a shape: emails, URLs and handles, phone numbers, ID numbers, dates
more specific than a year, ages over 89 (English and Chinese). Each pattern names the
group that is the identifier, so cue words ("my number is", "病历号") stay readable."""

from __future__ import annotations

import re
from collections.abc import Iterator

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_MONTH_ABBREVIATIONS = [
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Sept",
    "Oct",
    "Nov",
    "Dec",
]
MONTH_NUMBER = {name.lower(): n for n, name in enumerate(MONTHS, 1)} | {
    short.lower(): n
    for short, n in zip(_MONTH_ABBREVIATIONS, [1, 2, 3, 4, 6, 7, 8, 9, 9, 10, 11, 12], strict=True)
}
_MONTH = r"(?:" + "|".join(MONTHS) + r"|(?:" + "|".join(_MONTH_ABBREVIATIONS) + r")\.?)"
_ORDINAL = r"\d{1,2}(?:st|nd|rd|th)?"
_YEAR = r"(?:\d{4}|'\d{2})"
_ORDINAL_WORD = (
    r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|"
    r"thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|"
    r"thirtieth|(?:twenty|thirty)[- ]"
    r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth))"
)
# a bare month is a date element after a preposition or determiner that makes it one
_MONTH_CUE = (
    r"(?:in|since|until|till|by|last|next|early|late|mid|of|this|that|every|around|"
    r"before|after|during|from|through|to|on|come|mid-)"
)
_CN_DIGIT = "〇零一二三四五六七八九十两"
_CN_NUMBER = rf"(?:\d{{1,4}}|[{_CN_DIGIT}]{{1,4}})"

EMAIL = re.compile(
    r"(?<![A-Za-z0-9_.+-])[A-Za-z0-9_.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
URL = re.compile(
    r"(?:https?://|www\.)[^\s<>\"'，。、）)]+"
    r"|(?<![A-Za-z0-9_@.-])[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\."
    r"(?:com|org|net|io|co|edu|gov|me|ly|app|cn|uk|info|biz|tv|us|ca|au|de|nl|ie|ee|fr|es|it|"
    r"jp|kr|hk|tw|sg|in|nz|za|ch|se|no|dk|fi|pl|pt|br|mx|ru|eu|xyz|site|online|store|shop|"
    r"blog|art|design|dev|page|link|studio|wales|scot|example|gg|fm|to|cc|ai)"
    r"(?:/[^\s<>\"'，。、）)]*)?(?![A-Za-z0-9_-])",
    re.IGNORECASE,
)
DOMAIN_PATH = re.compile(
    r"(?<![A-Za-z0-9_@./-])[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/[^\s<>\"'，。、）)]+"
)
# a handle said without its @: "summerink_drawz", "tamsin.q.makes", "baoxinyi_psy"
BARE_HANDLE = re.compile(
    r"(?<![A-Za-z0-9_@./-])(?:[a-z0-9]+_[a-z0-9_]+|[a-z]+\.[a-z0-9]+\.[a-z0-9.]+)"
    r"(?![A-Za-z0-9_@/-])"
)
# an email spoken: "max dot oduro at example dot net", "m-a-x dot o-d-u-r-o"
SPOKEN_EMAIL = re.compile(
    r"\b[a-z0-9]+(?:[-_][a-z0-9]+){0,4}(?:\s+dot\s+[a-z0-9]+(?:-[a-z0-9]+){0,20}){0,4}\s+at\s+"
    r"[a-z0-9-]+(?:\s+dot\s+[a-z0-9-]+){0,4}\s+dot\s+"
    r"(?:com|net|org|edu|gov|io|co|uk|us|ca|au|ie|nz|cn|de|fr|info|me|example)\b"
    r"|\b[a-z](?:-[a-z]){1,30}(?:\s+dot\s+[a-z](?:-[a-z]){1,30}){1,4}\b",
    re.IGNORECASE,
)
HANDLE = re.compile(r"(?<![A-Za-z0-9_@.])@[A-Za-z0-9_](?:[A-Za-z0-9_.]*[A-Za-z0-9_])?")
PHONE = re.compile(
    r"(?<![A-Za-z0-9_+])(?:\+?\d{1,3}[\s.-])?(?:\(\d{1,5}\)[\s.-]?)?\d{1,5}(?:[\s.-]\d{2,6}){1,4}(?![A-Za-z0-9_])"
    r"(?:,?\s*(?:ext\.?|extension|x)\s*\d{1,6}(?![A-Za-z0-9_]))?"
    r"|(?<!\d)1[3-9]\d{9}(?!\d)"  # a Chinese mobile, written without spaces
)
ID_CUE = re.compile(
    r"(?:record|MRN|ID|I\.D\.|licen[cs]e|passport|student|account|policy|member|case|"
    r"employee|badge|patient|insurance|social security|SSN|number|no\.|#|reference|ref|claim|"
    r"ticket|booking|file|chart|NHS|Medicaid|Medicare|visa|permit|registration|application|"
    r"confirmation|tracking|serial|certificate|plate|contract|agreement|invoice|receipt|order|"
    r"customer|agent|"
    r"身份证|学号|病历号|病历|工号|护照|驾照|驾驶证|编号|卡号|号码|证号|账号)",
    re.IGNORECASE,
)
ID_TOKEN = re.compile(
    r"(?<![A-Za-z0-9_/-])(?=[A-Za-z0-9/-]*\d)(?:[A-Za-z]{0,6}[-/\s]?)?(?:[A-Za-z]{1,6}[-/])*"
    r"\d[\dA-Za-z]*(?:[-/][\dA-Za-z]+)*(?![A-Za-z0-9_/-])"
)
ID_SHAPE = re.compile(
    r"(?<![A-Za-z0-9_-])(?:\d{17}[\dXx]|\d{3}-\d{2}-\d{4}|[A-Z]{2}\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]|"
    r"[A-Z]{2,4}-\d{3,}-\d{2,}|[A-Z]{2,6}\d{5,}[A-Z0-9]*|[A-Z]{2,4}\s\d{5,}|"
    r"[A-Z]{2,5}(?:/[A-Z0-9]{2,6})*/\d{3,}[A-Z0-9]*|"
    r"[A-Z]{1,5}[-\s](?=(?:[\d-]*\d){6}|[\d-]*\d{4})\d{2,6}(?:-\d{2,6}){0,3}(?:-[A-Z0-9]{1,4}){0,3}|"
    r"[A-Z]{1,3}-?\d{5,}[A-Z]?|\d{8,}|\d{7}[A-Z]{1,2}|"
    r"[A-Z]{1,5}[-\s]?\d{2,4}(?:[\s-]\d{2,4}){2,4}|"
    r"(?=[A-Z0-9]*[A-Z])(?=[A-Z0-9]*\d)[A-HJ-NPR-Z0-9]{17})(?![A-Za-z0-9_-])"
)
_WEEKDAY = (
    r"(?:(?<!Easter )(?<!Cyber )(?<!Black )(?<!Good )(?<!Ash )(?<!Palm )"
    r"(?:(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day|Mon|Tue|Tues|Wed|Thu|Thur|Thurs|Fri|Sat|Sun)"
    r"\.?,?\s+)?"
)
DATE = re.compile(
    rf"{_WEEKDAY}(?:(?:the\s+)?{_ORDINAL}\s+(?:of\s+)?{_MONTH}(?:,?\s+{_YEAR})?"
    rf"|{_MONTH}\s+(?:the\s+)?{_ORDINAL}(?![\d:])(?:,?\s+{_YEAR})?"
    rf"|{_MONTH}\s+{_YEAR}"
    r"|(?<![\d/.-])\d{4}-\d{1,2}-\d{1,2}(?![\d-])"
    r"|(?<![\d/.-])\d{1,2}[/.]\d{1,2}(?:[/.](?:\d{4}|\d{2}))?(?![\d/]|\.\d|\s*(?:percent|%|kg|km|mg|ml))"
    r"|\b[Tt]he\s+\d{1,2}(?:st|nd|rd|th)\b(?!\s+(?:week|time|floor|grade|place|year|day|round|"
    r"attempt|one|try|session|month|century|quarter|period|row|lap|level))"
    rf"|\b[Tt]he\s+{_ORDINAL_WORD}\s+of\s+{_MONTH}\b"
    r"|\b(?:the\s+)?(?:spring|summer|autumn|fall|winter)\s+of\s+\d{4}\b"
    r"|(?:(?<=\bon )|(?<=\bby )|(?<=\btil )|(?<=\buntil )|(?<=\bfor )|(?<=\bbefore )|"
    r"(?<=\bafter )|(?<=\bsince )|(?<=\bBefore )|(?<=\bAfter )|(?<=\bSince )|(?<=\bthrough ))"
    rf"the\s+{_ORDINAL_WORD}\b(?!\s+(?:time|one|step|thing|day|week|"
    r"year|session|place|person|few|two|three|couple|half|of\s+(?:us|them|all|these|those)|"
    r"of\s+(?:the\s+)?(?:month|year|week)))"
    rf"|\b{_MONTH}\s+(?:the\s+)?{_ORDINAL_WORD}\b"
    rf"|(?:{_CN_NUMBER}年)?{_CN_NUMBER}月{_CN_NUMBER}[日号]"
    rf"|(?:农历|阴历)?[正冬腊{_CN_DIGIT}]{{1,2}}月(?:初[{_CN_DIGIT}]{{1,2}}|廿[{_CN_DIGIT}]?|[{_CN_DIGIT}]{{1,3}}(?![个岁年天次]))"
    rf"|(?:上个?|下个?|这个?|本)月(?:的)?{_CN_NUMBER}[日号]"
    r"|(?:这个|上个|下个)月(?:初|中|底)"
    rf"|(?:(?:去年|今年|明年|前年|后年|每年|那年)的?|{_CN_NUMBER}年)?(?<![个{_CN_DIGIT}\d]){_CN_NUMBER}月"
    r"(?:中旬|下旬|上旬|份|初|中|底)?"
    rf"|(?:周|星期|礼拜)[一二三四五六日天]{_CN_NUMBER}[日号]"
    r"|(?<![\d.])\d{4}\.\d{1,2}\.\d{1,2}(?![\d.])"
    rf"|(?<![{_CN_DIGIT}\d]){_CN_NUMBER}[日号](?![楼线室床门车院位码人栋层座台种会选机窗厅库桌柜口])"
    r")",
)
BARE_MONTH = re.compile(
    rf"\b(?i:{_MONTH_CUE})\s+(?:the\s+)?(?:(?:end|start|middle|beginning)\s+of\s+)?({_MONTH})\b"
)
_AGE_NUMBER = r"(?:9\d|1[01]\d)"
_AGE_WORD = (
    r"(?:ninety|a hundred(?: and)?|one hundred(?: and)?)"
    r"(?:[- ](?:one|two|three|four|five|six|seven|eight|nine|ten))?"
    r"|(?:(?:his|her|their|my|your)\s+)?(?:late\s+|mid\s+|early\s+)?nineties"
    r"|ninety-odd|hundred and (?:one|two|three|four|five|six|seven|eight|nine|ten)"
)
AGE = re.compile(
    rf"(?:\b(?:aged|age|turned|turning|turns|is|was|am|be|being|been|reached|reach|"
    r"to|past|nearly|almost|over)|'s|’s|'m|’m)\s+"
    rf"({_AGE_NUMBER}|{_AGE_WORD})\b"
    r"(?!\s*(?:percent|%|minutes|dollars|times|pounds|kg|days|people|miles|degrees|hours|"
    r"seconds|euros|quid|bucks|pages|emails|messages|calls|texts|steps|per|k\b|mph|km|"
    r"weeks|months|years(?!\s+old)|kids|students|%))"
    rf"|\b({_AGE_NUMBER}|{_AGE_WORD})(?=th birthday|(?:\s+|-)yo\b)"
    rf"|((?:九十(?:有)?[一二三四五六七八九多]{{0,2}}|一百[零一二三四五六七八九十多]*|{_AGE_NUMBER})(?:周)?岁)"
    r"|(九十有[一二三四五六七八九]|九十[一二三四五六七八九]{2})"
    r"|(?:(?<=已经)|(?<=今年)|(?<=都快)|(?<=活到)|(?<=活了)|(?<=快要)|(?<=都))"
    r"((?:九十[一二三四五六七八九]?|一百[零一二三四五六七八九十]*))(?=了|岁|啦)"
    r"|(?<![\u4e00-\u9fff]{2}[第个])((?:九十[一二三四五六七八九]?|一百[零一二三四五六七八九十]*))"
    r"(?=了|啦|……|…|的老人|高龄)",
    re.IGNORECASE,
)


_ID_GAP = re.compile(
    r"[\s:：,，#-]*(?:(?:number|no\.?|num|is|was|of|ends in|starts with|reads|it's|it’s|"
    r"the|my|his|her|their|on|at|card|code|ID|是|为|号|号码|的)[\s:：,，#-]*){0,6}"
)
# a handle after the platform it is on: "on Snapchat as rafa.e12", "抖音号 ahe_88", "微信：lin2019"
PLATFORM_HANDLE = re.compile(
    r"(?:Snapchat|Instagram|Insta|IG|TikTok|Twitter|Facebook|Discord|Reddit|Telegram|WeChat|"
    r"LinkedIn|Twitch|Steam|Xbox|PSN|YouTube|Threads|Bluesky|Mastodon|Tumblr|Kik|Line|Signal|"
    r"Skype|GitHub|Venmo|Cash ?App|微信|抖音|微博|小红书|QQ|B站|快手|豆瓣|知乎|钉钉)"
    r"(?:\s+(?:as|is|handle|name|account|username|user|ID|id|at)){0,3}"
    r"(?:号|账号|名|ID|id)?[\s:：是为叫]*"
    r"(@?[A-Za-z0-9_][A-Za-z0-9_.\-]*[A-Za-z0-9_]|@[\w\u4e00-\u9fff.\-]{2,}|[\u4e00-\u9fff]{2,8}(?=[\s，。,.!?！？]|$))"
)
CJK_HANDLE = re.compile(r"(?<![A-Za-z0-9_.])@[\w\u4e00-\u9fff][\w\u4e00-\u9fff.\-]*")
# a name spelled out letter by letter: "R-A-F...", "D. A. N. A."
SPELLED = re.compile(r"(?<![\w-])[A-Z](?:(?:-|\.\s?|\s)[A-Z]){2,}(?![\w-])\.?")


_DIGIT_WORD = r"(?:zero|oh|o|one|two|three|four|five|six|seven|eight|nine|double|triple)"
# a number said digit by digit: "five five five, oh one three four"
SPOKEN_NUMBER = re.compile(rf"\b{_DIGIT_WORD}(?:[\s,-]+{_DIGIT_WORD}){{6,}}\b", re.IGNORECASE)


# a number after the words that introduce a phone number, however it is grouped
# an age said as a phrase (overlapping the cue forms above, so searched apart)
AGE_PHRASE = re.compile(
    rf"\b(?:aged\s+)?(?:{_AGE_NUMBER}|{_AGE_WORD})(?:[- ]?(?:years?|yrs?)[- ]old|[- ]year-old)\b"
    rf"|\baged\s+(?:{_AGE_NUMBER}|{_AGE_WORD})\b"
    r"|\b(?:pushing|nearly|almost)\s+(?:a hundred|100|ninety-\w+|9[1-9])\b|\ba century old\b"
    r"|\bnonagenarian\b|\bcentenarian\b"
    r"|\b[Aa]t\s+(?:9\d|1[01]\d)\b(?!\s*(?:percent|%|degrees|mph|km|kg|miles|minutes|dollars|pounds|"
    r"euros|a\.m\.|p\.m\.|am|pm|o'clock|[A-Za-z]+\s+Street))"
    r"|(?<=in )(?:his|her|their|my|your)\s+(?:late\s+|mid\s+|early\s+)?nineties\b"
    r"|\b100-year-old\b|\bninety-odd\b",
    re.IGNORECASE,
)
EXTENSION = re.compile(
    r"(?<!\w)\(\d{3}\)\s?\d{7}(?!\d)|"
    r"\b(?i:ext\.?|extension)\s*(?:\d{1,6}|(?:one|two|three|four|five|six|seven|eight|nine|ten|"
    r"twenty|thirty|forty|fifty)(?:-\w+)?)\b"
    r"|\b(?i:area code)\s+(\d{3})\b|(?<![\d/])\d{3}/\d{3}/\d{4}(?![\d/])"
)
PHONE_CUE = re.compile(
    r"\b(?:call|text|phone|number|cell|mobile|landline|reach (?:me|her|him|them) (?:at|on)|"
    r"电话|手机|号码|打给)\D{0,15}?(\+?\d[\d\s().-]{5,}\d)"
)


CHINESE_DIGITS_PHONE = re.compile(
    r"[零〇一二三四五六七八九幺]{3,}(?:[\s-]?[零〇一二三四五六七八九幺]{3,}){1,3}"
)
CHINESE_CERTIFICATE = re.compile(
    r"[\u4e00-\u9fff]{1,2}[(（]\d{4}[)）][\u4e00-\u9fff]{2,12}第\d{4,}号"
    r"|(?:(?<=证号是)|(?<=证号为)|(?<=编号是)|(?<=编号为)|(?<=证号：)|(?<=编号：))[^\s，。,；;]{5,40}"
)


# the end of a number said alone: "ends in 7Q42", "ID ending 3386"
ID_ENDING = re.compile(
    r"\b(?:ends?|ending)\s+(?:in\s+|with\s+)?([A-Z0-9]{3,8})\b"
    r"|\blast (?:four|4|five|six)(?:\s+digits)?[,:\s]*(?:are\s+|is\s+)?(\d{4,6})\b"
)


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def pattern_spans(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, category) of every shaped identifier; overlaps are settled by the caller."""
    for match in EMAIL.finditer(text):
        yield match.start(), match.end(), "email"
    for match in PLATFORM_HANDLE.finditer(text):
        handle = match.group(1)
        between = text[match.start() : match.start(1)]
        if re.fullmatch(r"[\u4e00-\u9fff]+", handle) and not re.search(
            r"[号叫是名：:]|ID|id", between
        ):
            continue  # 抖音上发了个视频: words after a platform, not its account
        if any(not ch.isalpha() or ch > "\u3000" for ch in handle) or handle.startswith("@"):
            yield match.start(1), match.end(1), "url"
    for match in SPELLED.finditer(text):
        if len(re.sub(r"[^A-Z]", "", match.group())) >= 3:
            yield match.start(), match.end(), "name"
    for match in SPOKEN_EMAIL.finditer(text):
        yield match.start(), match.end(), "email"
    for match in BARE_HANDLE.finditer(text):
        handle = match.group().rstrip(".")
        if len(handle) >= 6 and not re.fullmatch(r"(?:[a-z]\.)+[a-z]?", handle):
            yield match.start(), match.start() + len(handle), "url"
    for pattern in (URL, DOMAIN_PATH, HANDLE, CJK_HANDLE):
        for match in pattern.finditer(text):
            end = match.end()
            while end > match.start() and text[end - 1] in ".,;:!?)":
                end -= 1
            yield match.start(), end, "url"
    for match in DATE.finditer(text):
        yield match.start(), match.end(), "date"
    for match in BARE_MONTH.finditer(text):
        yield match.start(1), match.end(1), "date"
    for match in PHONE.finditer(text):
        digits = _digits(match.group())
        if digits >= 7 and not _looks_like_year_range(match.group()):
            yield match.start(), match.end(), "phone"
    for match in AGE_PHRASE.finditer(text):
        yield match.start(), match.end(), "age"
    for match in EXTENSION.finditer(text):
        group = 1 if match.group(1) else 0
        yield match.start(group), match.end(group), "phone"
    for match in PHONE_CUE.finditer(text):
        if _digits(match.group(1)) >= 7:
            yield match.start(1), match.end(1), "phone"
    for match in ID_ENDING.finditer(text):
        group = 1 if match.group(1) else 2
        if _digits(match.group(group)) >= 2:
            yield match.start(group), match.end(group), "id"
    for match in CHINESE_DIGITS_PHONE.finditer(text):
        if sum(ch in "零〇一二三四五六七八九幺" for ch in match.group()) >= 7:
            yield match.start(), match.end(), "phone"
    for match in CHINESE_CERTIFICATE.finditer(text):
        if _digits(match.group()) >= 4:
            yield match.start(), match.end(), "id"
    for match in SPOKEN_NUMBER.finditer(text):
        words = re.findall(r"[a-z]+", match.group().lower())
        repeats = {"double": 1, "triple": 2}  # "double five": the five said twice
        if len(words) + sum(repeats.get(w, 0) - (w in repeats) for w in words) >= 7:
            yield match.start(), match.end(), "phone"
    for match in ID_SHAPE.finditer(text):
        yield match.start(), match.end(), "id"
    for cue in ID_CUE.finditer(text):
        window = text[cue.end() : cue.end() + 24]
        token = ID_TOKEN.search(window)
        if token and _digits(token.group()) >= 4 and _ID_GAP.fullmatch(window[: token.start()]):
            gap = window[: token.start()]
            label = (
                cue.group().isupper() and len(cue.group()) >= 2 and not gap.strip(" :#-")
            )  # "MRN 40028817" as one
            start = cue.start() if label else cue.end() + token.start()
            yield start, cue.end() + token.end(), "id"
    for match in AGE.finditer(text):
        group = next(g for g in range(1, 11) if match.group(g))
        yield match.start(group), match.end(group), "age"


def _looks_like_year_range(text: str) -> bool:
    """'2019-2021' or '2020 2021' are years, not a phone number."""
    parts = re.split(r"[\s.-]", text)
    return len(parts) == 2 and all(len(p) == 4 and p[:2] in ("19", "20") for p in parts)
