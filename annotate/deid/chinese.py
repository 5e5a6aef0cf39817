"""Chinese names and places: rjieba's part-of-speech tags (``nr`` people, ``ns`` places,
``nt`` organisations) checked against word frequencies (jieba tags 谢谢 and 明白 as names),
and the shapes Chinese gives them: an institution ends in its kind (华西医院, 樱途留学服务
有限公司), an address in a number (长平路41号, 桂花小区7栋1502), a name follows a role word
(班主任赵国庆) or a 小/老/阿 (小北, 老郑, 阿霞)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from annotate.deid import lexicon

_COMMON = 4.5  # Zipf: a word this common (谢谢, 明白, 东西) is not a name whatever its tag
_NICKNAME_COMMON = 3.0
_PLACE_COMMON = 3.8  # 太多 tagged ns: a place not in the gazetteer is rarer than this
_COMMON_CHARACTER = 5.5  # Zipf of 太, 多, 不: characters of function words
_VERB_BEFORE_NAME = frozenset(
    "说和跟给叫问找让对被把是在与同陪帮请听看见向替跟"
)  # 小猫, 小事, 小组: more common than that, not a nickname
_NAME_TAGS = {"nr", "nrfg", "nrt"}
_PLACE_TAGS = {"ns", "nt", "nsf"}
_KIND = (
    r"股份有限公司|有限责任公司|有限公司|集团|公司|中学|小学|大学|学院|高中|初中|幼儿园|附中|附小|"
    r"职高|技校|卫校|医院|诊所|卫生院|门诊|养老院|敬老院|福利院|养老中心|康复中心|中心|银行|分行|支行|"
    r"酒店|宾馆|超市|商场|广场|大厦|大楼|写字楼|餐厅|饭店|酒楼|咖啡馆|咖啡厅|酒吧|书店|工作室|"
    r"研究所|事务所|派出所|法院|监狱|教堂|体育馆|图书馆|博物馆|工厂|厂|机场|火车站|地铁站|车站|公园|"
    r"小区|花园|公寓|新村|家园|路|街|大街|大道|巷|弄|胡同|新区|开发区|街道|社区|镇|乡|村|"
    r"纺织|物流|科技|贸易|电子|机械|建材|地产|传媒|置业|实业|控股|服饰|电器|医药|化工"
)
# an institution or road: up to ten characters, then its kind, then perhaps its number
_INSTITUTION = re.compile(
    rf"([\u4e00-\u9fff]{{2,10}}?)(?:{_KIND})"
    r"(?:\d+(?:号楼|号院|号|栋|幢|单元|室|楼)?)*(?:\d+)?"
)
_MORE_KIND = re.compile(
    rf"[^\W\d在住到去从于的是为和跟与往回做当读上念找了]{{0,6}}?(?:{_KIND})(?:\d+(?:号|栋|室)?)*"
)
_SUFFIX = re.compile(rf"(?:{_KIND}|区|县|市|寺|庙|店|馆|所|院)$")
_ORDINAL = re.compile(r"^第[一二三四五六七八九十\d]+$")
_NUMBERED_SCHOOL = re.compile(
    r"(?:市|县|区)?[一二三四五六七八九十\d]{1,3}中(?=[，。,、\s读上念的毕那这]|$)"
)
_ADDRESS = re.compile(
    r"[\u4e00-\u9fff]{2,14}(?:路|街|大道|巷|弄)\d+号(?:院)?(?:\d+栋)?(?:\d+单元)?(?:\d+室)?"
)
# where a place's name begins: after the last of these in the run before its kind
_BEFORE_PLACE = re.compile(r".*[在住到去从于的是为址叫给和跟与往回做当读上念找了，。、：:]")
# the employer after 在 and before the work done there: 我在鼎鸿做会计
_EMPLOYER = re.compile(r"在([\u4e00-\u9fff]{2,4}?)(?:做|当|上班|工作|打工|实习|干活|任职)")
GENERIC = frozenset(
    """
    社区 人民 儿童 精神 中医 妇幼 口腔 肿瘤 综合 私立 公立 重点 普通 附属 第一 第二 第三
    科技 外贸 互联网 贸易 网络 教育 培训 投资 医疗 保险 房地产 建筑 广告 咨询 学校 心理
    软件 游戏 汽车 食品 服装 快递 国企 外企 大型 小型 这家 那家 一家 我们 他们 你们 这个
    附近 本地 当地 一所 这所 那所 物流 设计 工作 单位 现在 以前 原来 养老 康复 大 小 新 老
    市 区 县 镇 村 省 城 乡 某 上 下 本 该 这 那 哪 每 各 其 别的 其他 一个 一些 好 大学生
    附属医院 市里 县里 城里 家里 公司 医院 学校 中心 银行 机构 部门 大家 自己 老家 家
    """.split()
)
_ROLE = (
    "班主任|领导|老公|老婆|同事|朋友|老师|经理|主任|医生|大夫|妈妈|爸爸|哥哥|姐姐|弟弟|妹妹|儿子|女儿|"
    "室友|同学|男朋友|女朋友|男友|女友|丈夫|妻子|爱人|前夫|前妻|表姐|表哥|表妹|表弟|堂哥|堂姐|舅舅|"
    "姑姑|阿姨|叔叔|奶奶|爷爷|外婆|外公|上司|老板|组长|邻居|闺蜜|师傅|名叫|叫做|叫|表叔|表姨|姑父|"
    "姨父|舅妈|婶婶|伯伯|干妈|干爸|继父|继母|岳父|岳母|公公|婆婆|嫂子|姐夫|妹夫|弟媳|顾问|律师|护工|"
    "教练|房东|中介|对象|未婚夫|未婚妻"
)
_ROLE_NAME = re.compile(rf"(?:{_ROLE})([\u4e00-\u9fff]{{2,4}})")
COMPOUND_SURNAMES = frozenset(
    "司徒 欧阳 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司马 夏侯 令狐 端木 "
    "独孤 南宫 西门".split()
)
TITLES = frozenset("老师 医生 大夫 先生 女士 小姐 阿姨 经理 主任 总 老板 教授 同学 师傅".split())
_GENERIC_ROADS = frozenset(
    """
    马路 街道 大街 公路 铁路 网路 思路 出路 道路 一路 半路 走路 找路 小路 山路 老路 后路 退路 进路
    弯路 近路 远路 商业街 步行街 美食街 小区 花园 公寓 新村 老小区 这条路 那条路 这条街 那条街
    """.split()
)
_NICKNAME = re.compile(r"(?:小|老|阿)[\u4e00-\u9fff]")
_NOT_NAMES = frozenset(
    """
    小时 小心 小孩 小姐 老师 老板 老公 老婆 老家 老人 老实 阿姨 小学 老大 小区 小年 小满 小寒 小暑
    小雪 小说 小吃 小伙 小组 小事 小费 小猫 小狗 小鸟 小朋友 老乡 老总 老爸 老妈 老弟 老哥 老外 老鼠
    老虎 阿婆 阿公 小便 小麦 小米 小票 小店 小镇 小城 小腿 小声 老毛病 老样子 老地方 小红书
    """.split()
)


def chinese_spans(text: str) -> Iterable[tuple[int, int, str, str]]:
    """(start, end, category, source) of the Chinese names and places in ``text``."""
    import rjieba

    tokens: list[tuple[int, int, str, str]] = []
    position = 0
    for word, tag in rjieba.tag(text):
        tokens.append((position, position + len(word), word, tag))
        position += len(word)
    yield from _tagged(text, tokens)
    yield from _institutions(text)
    for match in _NUMBERED_SCHOOL.finditer(text):
        yield match.start(), match.end(), "place", "shape"
    for match in _EMPLOYER.finditer(text):
        name = match.group(1)
        if name not in GENERIC and lexicon.common_chinese(name) < 3.0 and name[0] not in "这那一每":
            yield match.start(1), match.end(1), "place", "shape"
    yield from _role_names(text, tokens)
    for match in _NICKNAME.finditer(text):
        nickname = match.group()
        longer = text[match.start() : match.end() + 1]
        if (
            nickname not in _NOT_NAMES
            and longer not in _NOT_NAMES
            and longer not in lexicon.CHINESE_PLATFORMS
            and lexicon.common_chinese(nickname) < _NICKNAME_COMMON
            and lexicon.common_chinese(longer) < _COMMON
        ):
            yield match.start(), match.end(), "name", "lexicon"


def _tagged(
    text: str, tokens: list[tuple[int, int, str, str]]
) -> Iterable[tuple[int, int, str, str]]:
    _, cities = lexicon.cities()
    for index, (start, end, word, tag) in enumerate(tokens):
        ordinary = lexicon.common_chinese(word) >= _COMMON or word in lexicon.CHINESE_PLATFORMS
        not_name = word in _NOT_NAMES or word[1:] in _NOT_NAMES  # 过小年
        if tag in _NAME_TAGS and len(word) >= 2 and not not_name and not ordinary:
            if len(word) >= 3 and word[0] in _VERB_BEFORE_NAME:  # 说小明: jieba joined a verb
                start += 1
            yield start, end, "name", "lexicon"
        elif (
            (tag in _PLACE_TAGS and not _ordinary_place(word) or word in cities)
            and len(word) >= 2
            and word not in lexicon.CHINESE_PROVINCES
        ):
            yield start, end, "place", "lexicon"
        if _SUFFIX.search(word):
            head = index
            while head > max(0, index - 6) and _joins_place(tokens, head - 1):
                head -= 1
            proper = head < index or (
                (tag in _PLACE_TAGS | {"nz"} or word.endswith(("路", "街", "巷", "胡同")))
                and len(word) > 2
                and word not in _GENERIC_ROADS
            )
            if proper and text[tokens[head][0] : end] not in lexicon.CHINESE_PROVINCES:
                yield tokens[head][0], end, "place", "shape"


def _ordinary_place(word: str) -> bool:
    """A word tagged a place that is ordinary talk (太多): common as a word, or made of
    characters as common as 太 and 多 (wordfreq lists such pairs as two words)."""
    if lexicon.common_chinese(word) >= _PLACE_COMMON:
        return True
    return all(lexicon.common_chinese(char) >= _COMMON_CHARACTER for char in word)


def _joins_place(tokens: list[tuple[int, int, str, str]], at: int) -> bool:
    """Whether the token at ``at`` is part of the name of the place that follows it."""
    word, tag = tokens[at][2], tokens[at][3]
    if _ORDINAL.match(word):
        return True
    proper = tag in _PLACE_TAGS | _NAME_TAGS | {"nz", "j", "n", "vn"} and len(word) >= 2
    if proper and word not in GENERIC:
        return True
    if word in GENERIC and at > 0:  # 仁和社区医院: a generic word inside a proper name
        before, before_tag = tokens[at - 1][2], tokens[at - 1][3]
        return (
            before_tag in _PLACE_TAGS | {"nz", "n", "nr"}
            and before not in GENERIC
            and len(before) >= 2
        )
    return False


def _institutions(text: str) -> Iterable[tuple[int, int, str, str]]:
    """An institution, road or estate named by the characters before its kind."""
    for match in _INSTITUTION.finditer(text):
        head = match.group(1)
        cut = _BEFORE_PLACE.match(head)
        start = match.start(1) + (cut.end() if cut else 0)
        name = text[start : match.start(1) + len(head)]
        if len(name) >= 2 and not _generic(name):
            end = match.end()
            for _ in range(3):  # 米市巷派出所: a road, then the station on it
                more = _MORE_KIND.match(text, end)
                if more is None:
                    break
                end = more.end()
            yield start, end, "place", "shape"
    for match in _ADDRESS.finditer(text):
        cut = _BEFORE_PLACE.match(match.group())
        start = match.start() + (cut.end() if cut else 0)
        if match.end() - start >= 4:
            yield start, match.end(), "place", "shape"


@cache
def _generic(name: str) -> bool:
    """A name made only of ordinary words (人民, 社区, 这家): no one place."""
    import rjieba

    if name in lexicon.cities()[1]:
        return False
    for word in rjieba.cut(name):
        if word in GENERIC or word in lexicon.CHINESE_PROVINCES:
            continue
        if len(word) == 1 or lexicon.common_chinese(word) >= _COMMON:
            continue
        return False
    return True


def _role_names(
    text: str, tokens: list[tuple[int, int, str, str]]
) -> Iterable[tuple[int, int, str, str]]:
    tagged = {start: (word, tag) for start, _, word, tag in tokens}
    surnames, given_chars = lexicon.chinese_surnames(), lexicon.chinese_given_chars()
    for match in _ROLE_NAME.finditer(text):
        name, start = match.group(1), match.start(1)
        if name[:2] in COMPOUND_SURNAMES:
            yield start, start + min(len(name), 4), "name", "lexicon"
        elif name[0] in surnames and lexicon.common_chinese(name[:2]) < _COMMON:
            yield start, start + min(len(name), 3), "name", "lexicon"
        elif (
            tagged.get(start, ("", ""))[0] == name[:2]
            and tagged[start][1] in _NAME_TAGS | {"nz"}
            or (not _has_word(name[:2]) and set(name[:2]) <= given_chars)
        ):
            yield start, start + 2, "name", "lexicon"


def _has_word(word: str) -> bool:
    import rjieba

    return bool(rjieba.has_word(word))
