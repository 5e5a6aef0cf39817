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
_NOT_GIVEN = frozenset("大二三四老小表堂师学亲帅靓美好俺咱你我他她像比和跟叫喊找到是的个位")
# characters of function words: never part of a given name (周末我, 但她, 谢谢你)
_FUNCTION_CHARS_IN_NAMES = frozenset(
    "我你他她它的了不是有在这那就都也和说们吗呢吧啊没要会能去来谢好全向末三"
)
_AFTER_NAME = frozenset("在也说是的和跟就都还又去来把被给让对很不没要会能呢吧啊了，。、")
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
    r"纺织|物流|科技|贸易|电子|机械|建材|地产|传媒|置业|实业|控股|服饰|电器|医药|化工|"
    r"外国语学校|实验学校|学校|[一二三四五六七八九十]院|苑|屯|颐养院|疗养院|师大|工大|交大|财大|医大|农大|理工|五金|药店|药房|花店|"
    r"饭馆|面馆|菜馆|酒家|托育|托管|早教|SOHO|城|园|屿|湾|岛|垵|坊|弄堂"
)
# an institution or road: up to ten characters, then its kind, then perhaps its number
_INSTITUTION = re.compile(
    rf"([\u4e00-\u9fff]{{2,10}}?)(?:{_KIND})"
    r"(?:\d+(?:号楼|号院|号|栋|幢|单元|室|楼)?)*(?:\d+)?"
)
_MORE_KIND = re.compile(
    rf"[^\W\d在住到去从于的是为和跟与往回做当读上念找了]{{0,6}}?(?:{_KIND})(?:\d+(?:号|栋|室)?)*"
)
_SUFFIX = re.compile(rf"(?:{_KIND}|区|县|市|寺|庙|店|馆|所|医院|学院|法院)$")
# kinds and institutions named by kind alone: never a person, never one place
GENERIC_PLACES = frozenset(
    """
    养老院 敬老院 福利院 幼儿园 医院 学校 派出所 五金店 超市 药店 药房 花店 饭馆 面馆 菜馆 公园 学院
    住院 出院 法院 电影院 剧院 商场 银行 公司 小区 花园 城里 县城 京城 长城 进城 满城 全城 花园 校园
    高中同学 初中同学 大学同学 小学同学 高中 初中
    公园 家园 乐园 动物园 植物园 果园 菜园 校园 游乐园 产业园 科技园 工业园 岛上 海岛 小岛 港湾
    """.split()
)
_ORDINAL = re.compile(r"^第[一二三四五六七八九十\d]+$")
_NUMBERED_SCHOOL = re.compile(
    r"(?:市|县|区)?[一二三四五六七八九十\d]{1,3}中(?=[，。,、\s读上念的毕那这去来了吧啊呢里附]|$)"
)
# surname and title: 龚阿姨, 祁老师, 戴总, 谭师傅; 强哥, 芳姐; 大刘; 国梁先生
_TITLE_AFTER = (
    r"阿姨|叔叔|老师|医生|大夫|会计|师傅|主任|经理|总|老板|科长|处长|局长|校长|院长|护士|警官|律师|"
    r"教练|伯伯|婶婶|奶奶|爷爷|大爷|大妈|二嫂|大嫂|大姐|大哥|二哥|老太太|老太|老头|老爷子|太太|大婶|婶子|"
    r"姐|哥"
)
_SURNAME_TITLE = re.compile(rf"老?([\u4e00-\u9fff])(?:{_TITLE_AFTER})(?![们])")
# a full name where a clause ends: 我爸是沈建新。
_CLAUSE_NAME = re.compile(
    r"(?:^|(?<=[是叫找见到系诉欢给了问跟和让比陪带帮请喊有、。！？，]))([\u4e00-\u9fff]{2,3}?)"
    r"(?=[，。、！？,!?说让和跟还都是来去打比也给在就又把被对]|$)"
)
# a nickname said in quotes or after 叫他/喊他: “胖虎”, 我们都叫他满满
_CALLED = re.compile(
    r"(?:叫|喊|称|叫做)(?:他|她|我|它)?[“「\"]([\u4e00-\u9fff]{1,3})[”」\"]"
    r"|(?:叫|喊)(?:他|她)([\u4e00-\u9fff]{2,3}?)(?=[，。！？,!?]|$)"
)
# someone spoken to: 听澜，你好
_VOCATIVE = re.compile(r"(?:^|(?<=[。！？]))([\u4e00-\u9fff]{2,3})，(?=你好|最近|你|您|我们|今天)")
# a Latin given name with a Chinese surname: Vivian 邵, Linda 宋
_LATIN_SURNAME = re.compile(
    r"[A-Z][a-z]{1,15} ?([\u4e00-\u9fff])(?=[^\u4e00-\u9fff]|的|说|在|是|，|$)"
)
_BIG_SURNAME = re.compile(r"大([\u4e00-\u9fff])(?=[、，。,\s和跟也都说]|$)")
_HONORIFIC = re.compile(r"([\u4e00-\u9fff]{2,3}?)(?:先生|女士|同学|小姐)")
# a name among names: 阿斌、胖子刘、建军
_LISTED = re.compile(r"([\u4e00-\u9fff]{2,3})、([\u4e00-\u9fff]{2,3})")
# an account's name: 号叫考研的家豪, 网名是夜航船, 昵称叫...
_ACCOUNT_NAME = re.compile(
    r"(?:号|账号|网名|昵称|ID|id)[，,]?\s*(?:叫|是|为|：|:)\s*([^\s，。,、！？]{2,12})"
)
_ADDRESS = re.compile(
    r"[\u4e00-\u9fff]{2,14}(?:路|街|大道|巷|弄)\d+号(?:院)?(?:\d+栋)?(?:\d+单元)?(?:\d+室)?"
)
# where a place's name begins: after the last of these in the run before its kind
_BEFORE_PLACE = re.compile(
    r".*[在住到去从于的是为址叫给和跟与往回做当读念找了说讲问开让把被对向比像离过们个着，。、：:]"
)
# the employer after 在 and before the work done there: 我在鼎鸿做会计
_EMPLOYER = re.compile(
    r"(?:在|去|进|到|从|找)([\u4e00-\u9fff]{2,4}?)"
    r"(?:做|当|上班|工作|打工|实习|干活|任职|仓库|总部|站|的老|读|上学|毕业|面试|入职|干)"
)
# well-known short names of universities and hospitals
SHORT_NAMES = frozenset(
    """
    北大 清华 复旦 浙大 交大 南大 中大 武大 川大 人大 北师大 华师 华科 同济 哈工大 厦大 山大 中科大
    南开 天大 西交 哈医大 华西 协和 瑞金 华山 湘雅 齐鲁 中山大学 医大一院 医大二院
    """.split()
)
GENERIC = frozenset(
    """
    社区 人民 儿童 精神 中医 妇幼 口腔 肿瘤 综合 私立 公立 重点 普通 附属
    科技 外贸 互联网 贸易 网络 教育 培训 投资 医疗 保险 房地产 建筑 广告 咨询 学校 心理
    软件 游戏 汽车 食品 服装 快递 国企 外企 大型 小型 这家 那家 一家 我们 他们 你们 这个
    附近 本地 当地 一所 这所 那所 物流 设计 工作 单位 现在 以前 原来 养老 康复 大 小 新 老
    市 区 县 镇 村 省 城 乡 某 上 下 本 该 这 那 哪 每 各 其 别的 其他 一个 一些 好 大学生
    外国语 实验 职业 艺术 体育 国际 双语 民办 公办 一条 这条 那条
    附属医院 市里 县里 城里 家里 公司 医院 学校 中心 银行 机构 部门 大家 自己 老家 家
    """.split()
)
_ROLE = (
    "班主任|领导|老公|老婆|同事|朋友|老师|经理|主任|医生|大夫|妈妈|爸爸|哥哥|姐姐|弟弟|妹妹|儿子|女儿|"
    "室友|同学|男朋友|女朋友|男友|女友|丈夫|妻子|爱人|前夫|前妻|表姐|表哥|表妹|表弟|堂哥|堂姐|舅舅|"
    "姑姑|阿姨|叔叔|奶奶|爷爷|外婆|外公|上司|老板|组长|邻居|闺蜜|师傅|名叫|叫做|叫|表叔|表姨|姑父|"
    "姨父|舅妈|婶婶|伯伯|干妈|干爸|继父|继母|岳父|岳母|公公|婆婆|嫂子|姐夫|妹夫|弟媳|顾问|律师|护工|"
    "教练|房东|中介|对象|未婚夫|未婚妻|学生|学长|学姐|学妹|学弟|外孙女|外孙|孙子|孙女|闺女|女婿|儿媳|侄子|侄女|"
    "外甥|兄弟|哥们|战友|网友|徒弟|病人|患者|客户|老伴|我哥|我姐|我弟|我妹|他哥|她姐|她哥|他姐"
)
_REDUPLICATED = re.compile(rf"(?:{_ROLE})(([\u4e00-\u9fff])\2)")
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
    寻思 小公 小公司 琢磨 嘀咕
    """.split()
)


def chinese_spans(text: str) -> Iterable[tuple[int, int, str, str]]:
    """(start, end, category, source) of the Chinese names and places in ``text``; none
    inside a platform's or a chain's name (小红书, 瑞幸)."""
    brands = [(m.start(), m.end()) for m in _brands().finditer(text)]
    for start, end, category, source in _spans(text):
        if category == "name" and _not_a_name(text[start:end]):
            continue
        employer = source == "employer"
        if employer or not any(start < b_end and b_start < end for b_start, b_end in brands):
            source = "shape" if employer else source
            yield start, end, category, source


_KIN_AND_ROLES = frozenset(_ROLE.split("|")) | frozenset(
    "我爸 我妈 他爸 他妈 她爸 她妈 家里人 家人 亲人 大人 别人 男人 女人 老人家 "
    "律师 大夫 护士 警察 司机".split()
)


def _not_a_name(text: str) -> bool:
    """Kin words, roles and ordinary words are not names, whichever rule found them."""
    return text in _KIN_AND_ROLES or text in _NOT_NAMES or text in GENERIC


@cache
def _brand_employer() -> re.Pattern[str]:
    """A chain or platform as where someone works or goes (去顺丰, 在美团五角场站)."""
    brands = "|".join(sorted(map(re.escape, lexicon.CHINESE_PLATFORMS), key=len, reverse=True))
    return re.compile(rf"(?:在|去|进|到|从|找|跳槽到|入职)({brands})(?!上|里刷|App|app|号)")


@cache
def _brands() -> re.Pattern[str]:
    return re.compile(
        "|".join(sorted(map(re.escape, lexicon.CHINESE_PLATFORMS), key=len, reverse=True))
    )


def _spans(text: str) -> Iterable[tuple[int, int, str, str]]:
    import rjieba

    tokens: list[tuple[int, int, str, str]] = []
    position = 0
    for word, tag in rjieba.tag(text):
        tokens.append((position, position + len(word), word, tag))
        position += len(word)
    tagged = list(_tagged(text, tokens))
    yield from tagged
    yield from _institutions(text)
    for match in _NUMBERED_SCHOOL.finditer(text):
        yield match.start(), match.end(), "place", "shape"
    for match in _EMPLOYER.finditer(text):
        name = match.group(1)
        brand = name in lexicon.CHINESE_PLATFORMS  # 在华为做了八年: an employer, not an app
        rare = lexicon.common_chinese(name) < 3.5 and name[0] not in "这那一每哪"
        if name not in GENERIC and (brand or rare):
            yield match.start(1), match.end(1), "place", "employer"
    for match in _brand_employer().finditer(text):
        yield match.start(1), match.end(1), "place", "employer"
    for name in SHORT_NAMES:
        start = text.find(name)
        while start >= 0:
            yield start, start + len(name), "place", "shape"
            start = text.find(name, start + len(name))
    for match in _LATIN_SURNAME.finditer(text):
        if match.group(1) in lexicon.chinese_surnames():
            yield match.start(), match.end(1), "name", "lexicon"
    for match in _REDUPLICATED.finditer(text):  # 我外孙乐乐, 我闺女朵朵
        if lexicon.common_chinese(match.group(1)) < 3.0:
            yield match.start(1), match.end(1), "name", "lexicon"
    surnames = lexicon.chinese_surnames() - set("阿小老大")
    for match in _CLAUSE_NAME.finditer(text):
        name = match.group(1)
        family = name[0] in surnames or name[:2] in COMPOUND_SURNAMES
        given = set(name[1:]) - _FUNCTION_CHARS_IN_NAMES == set(name[1:])
        if family and given and lexicon.common_chinese(name) < 2.5 and not _has_word(name):
            yield match.start(1), match.end(1), "name", "lexicon"
    for match in _CALLED.finditer(text):
        group = 1 if match.group(1) else 2
        called = match.group(group)
        if called not in _NOT_NAMES and lexicon.common_chinese(called) < 3.5:
            yield match.start(group), match.end(group), "name", "lexicon"
    for match in _VOCATIVE.finditer(text):
        called = match.group(1)
        plain = not set(called) & _FUNCTION_CHARS_IN_NAMES
        if plain and not _has_word(called) and lexicon.common_chinese(called) < 2.5:
            yield match.start(1), match.end(1), "name", "lexicon"
    names = [*_role_names(text, tokens), *_titled_names(text)]
    names += [span for span in tagged if span[2] == "name"]
    yield from names
    yield from _listed(text, names)
    for match in _ACCOUNT_NAME.finditer(text):
        handle = match.group(1)
        if handle[0] not in "哪什啥多几谁这那" and lexicon.common_chinese(handle) < 4.0:
            yield match.start(1), match.end(1), "url", "shape"
    for match in _NICKNAME.finditer(text):
        nickname = match.group()
        longer = text[match.start() : match.end() + 1]
        if (
            nickname not in _NOT_NAMES
            and longer not in _NOT_NAMES
            and longer not in lexicon.CHINESE_PLATFORMS
            and lexicon.common_chinese(nickname) < _NICKNAME_COMMON
            and lexicon.common_chinese(longer) < _NICKNAME_COMMON
            and lexicon.common_chinese(text[max(0, match.start() - 1) : match.start() + 1]) < 3.5
        ):
            yield match.start(), match.end(), "name", "lexicon"


def _tagged(
    text: str, tokens: list[tuple[int, int, str, str]]
) -> Iterable[tuple[int, int, str, str]]:
    _, cities = lexicon.cities()
    for index, (start, end, word, tag) in enumerate(tokens):
        ordinary = lexicon.common_chinese(word) >= _COMMON or word in lexicon.CHINESE_PLATFORMS
        not_name = word in _NOT_NAMES or word[1:] in _NOT_NAMES  # 过小年
        not_name = not_name or word in GENERIC_PLACES or bool(_SUFFIX.search(word))
        if tag in _NAME_TAGS and len(word) >= 2 and not not_name and not ordinary:
            if len(word) >= 3 and word[0] in _VERB_BEFORE_NAME:  # 说小明: jieba joined a verb
                start += 1
            if word.endswith(("先生", "女士", "小姐", "同学")):  # 梁先生 of 国梁先生
                continue
            yield start, end, "name", "lexicon"
        elif (
            (tag in _PLACE_TAGS and not _ordinary_place(word) or word in cities)
            and len(word) >= 2
            and word not in lexicon.CHINESE_PROVINCES
            and word not in GENERIC_PLACES
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
            place = text[tokens[head][0] : end]
            if proper and place not in lexicon.CHINESE_PROVINCES and place not in GENERIC_PLACES:
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
        if len(name) < 2:  # 我让路遥: nothing names the road
            continue
        road = match.group()[len(head) :][:1] in ("路", "街", "巷", "弄")
        named = not _generic(name) or road and _road_name(name)
        if named and text[start : match.end()] not in GENERIC_PLACES:
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


def _road_name(name: str) -> bool:
    """A road's name is often ordinary characters (上塘街, 长平路): any two that are not
    one common word or a demonstrative (这条街)."""
    return (
        name not in GENERIC
        and lexicon.common_chinese(name) < _COMMON
        and name[0] not in "这那一每哪"
    )


@cache
def _generic(name: str) -> bool:
    """A name made only of ordinary words (人民, 社区, 这家): no one place."""
    import rjieba

    if name in lexicon.cities()[1]:
        return False
    for word in rjieba.cut(name):
        if _ORDINAL.match(word):  # 第一人民医院: the number tells it from the others
            return False
        if word in GENERIC or word in lexicon.CHINESE_PROVINCES:
            continue
        if len(word) == 1 or lexicon.common_chinese(word) >= _COMMON:
            continue
        return False
    return True


def _listed(
    text: str, names: list[tuple[int, int, str, str]]
) -> Iterable[tuple[int, int, str, str]]:
    """A name among names (阿斌、胖子刘、建军): the items of a list beside a found name."""
    covered = {i for start, end, _, _ in names for i in range(start, end)}
    for match in _LISTED.finditer(text):
        for group, other in ((1, 2), (2, 1)):
            beside = set(range(match.start(other), match.end(other)))
            cut = _BEFORE_PLACE.match(match.group(group)) if group == 1 else None
            start = match.start(group) + (cut.end() if cut else 0)
            end = match.end(group)
            if group == 2 and end - start == 3 and text[end - 1] in _AFTER_NAME | {"去", "来"}:
                end -= 1  # 建军去: the name, not the verb after it
            item = text[start:end]
            named = beside & covered and len(item) >= 2 and item not in GENERIC
            if named and lexicon.common_chinese(item) < 3.5:
                yield start, end, "name", "lexicon"


def _titled_names(text: str) -> Iterable[tuple[int, int, str, str]]:
    surnames, given_chars = (
        lexicon.chinese_surnames() - {"老", "小", "大", "阿"},
        lexicon.chinese_given_chars(),
    )
    for match in _SURNAME_TITLE.finditer(text):
        char, whole = match.group(1), match.group()
        sibling = whole[-1] in "哥姐"
        rare_sibling = sibling and lexicon.common_chinese(whole) < 2.0 and char not in _NOT_GIVEN
        given = sibling and char in given_chars or rare_sibling  # 强哥, 彪哥
        if (char in surnames or given) and lexicon.common_chinese(whole) < 3.5:
            yield match.start(), match.end(), "name", "lexicon"
    for match in _BIG_SURNAME.finditer(text):
        if match.group(1) in surnames and lexicon.common_chinese(match.group()) < 3.0:
            yield match.start(), match.end(), "name", "lexicon"
    for match in _HONORIFIC.finditer(text):
        name = match.group(1)
        cut = _BEFORE_PLACE.match(name)
        if cut:
            name = name[cut.end() :]
        start = match.end(1) - len(name)
        if (
            len(name) >= 2
            and name not in GENERIC
            and lexicon.common_chinese(name) < 3.5
            and name[0] not in "这那各某每哪位"
        ):
            yield start, match.end(1), "name", "lexicon"


def _role_names(
    text: str, tokens: list[tuple[int, int, str, str]]
) -> Iterable[tuple[int, int, str, str]]:
    tagged = {start: (word, tag) for start, _, word, tag in tokens}
    surnames = lexicon.chinese_surnames() - set("阿小老大")
    given_chars = lexicon.chinese_given_chars()
    for match in _ROLE_NAME.finditer(text):
        name, start = match.group(1), match.start(1)
        if name[:2] in COMPOUND_SURNAMES:
            yield start, start + min(len(name), 4), "name", "lexicon"
        elif name[0] in surnames and lexicon.common_chinese(name[:2]) < _COMMON:
            length = 2 if len(name) < 3 or name[2] in _AFTER_NAME else 3
            yield start, start + length, "name", "lexicon"
        elif (
            tagged.get(start, ("", ""))[0] == name[:2]
            and tagged[start][1] in _NAME_TAGS | {"nz"}
            or (not _has_word(name[:2]) and set(name[:2]) <= given_chars)
        ):
            yield start, start + 2, "name", "lexicon"


def _has_word(word: str) -> bool:
    import rjieba

    return bool(rjieba.has_word(word))
