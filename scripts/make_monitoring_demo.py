"""Write annotate/demo_data/monitoring.jsonl: the demo's routine-monitoring sessions.

Eight counselors (t03..t10), three clients each, four sessions per client: 96 short
sessions with the client's and the counselor's WAI-SR ratings, a quarter in Chinese
(t09's and t10's clients). Every line of talk is written for this project; the script
only combines the phrases below with a seeded generator, so the file is the same on
every run (`python scripts/make_monitoring_demo.py`, then commit the file).

What is planted, so that `annotate alliance counselors` and `annotate alliance watch`
have something to find (the demo's tests check these facts from the file itself):

- A counselor effect: each counselor's clients rate the alliance around that counselor's
  own level (COUNSELORS' ``level``, spread about 0.3 on the 1..5 scale), on top of a
  client's own level, a small session-to-session wobble and item noise.
- Counselors rate the alliance higher than their clients do (``gap``, +0.1 to +0.3 for
  most), t07 and t09 much higher (+0.8, +0.9); t07's clients also rate lowest.
- Client c13 (t05) falls sharply at session 3 on every dimension while t05's own rating
  of that session holds or rises (a missed drop); the transcript shows it only as short,
  polite, withdrawn answers. Client c21 (t08) falls at session 4, openly, and t08's rating
  falls too (a noticed drop).

A client's talk follows the session's alliance (warm, steady or guarded phrases; short,
withdrawn ones in the missed drop), so the turn-level trace has something to find; how
well it finds it is not planted (the offline lexical trace correlates about 0.5 with the
English clients' ratings here, and scores the Chinese turns against English item texts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parents[1] / "annotate" / "demo_data" / "monitoring.jsonl"
SEED = 27
DIMENSIONS = ("goal", "task", "bond")
ITEMS = tuple(f"{d}_{i}" for d in DIMENSIONS for i in range(1, 5))
MEAN = {"goal": 3.85, "task": 3.75, "bond": 4.1}  # clients rate the alliance high
ITEM_SHIFT = dict(  # some items run a little higher or lower than their scale
    zip(ITEMS, (0.1, 0.0, 0.05, -0.2, -0.15, 0.05, 0.1, 0.0, 0.2, -0.05, 0.0, -0.1), strict=True)
)
CLIENT_SD = 0.3  # between clients of a counselor
CLIENT_DIMENSION_SD = 0.12  # a client's own profile over the three dimensions
CLIENT_ITEM_SD = 0.3  # how a client reads an item, the same every session
SESSION_SD = 0.1  # session-to-session wobble, all dimensions together
ITEM_SD = 0.2  # fresh item noise each session
GROWTH = 0.06  # per session: alliances firm up a little
COUNSELOR_TRACKS = 0.6  # how much of the client's level the counselor's rating follows


@dataclass(frozen=True)
class Counselor:
    id: str
    language: str
    level: float  # planted: where this counselor's clients rate the alliance (vs. the mean)
    gap: float  # planted: how much higher the counselor rates than the clients do
    conditions: tuple[str, str, str]
    modality: str


COUNSELORS = (
    Counselor("t03", "en", 0.4, 0.15, ("anxiety", "work stress", "grief"), "video"),
    Counselor("t04", "en", 0.2, 0.3, ("depression", "anxiety", "work stress"), "in person"),
    Counselor("t05", "en", -0.05, 0.2, ("grief", "depression", "anxiety"), "in person"),
    Counselor("t06", "en", 0.3, 0.1, ("work stress", "grief", "depression"), "video"),
    Counselor("t07", "en", -0.6, 0.8, ("anxiety", "depression", "work stress"), "video"),
    Counselor("t08", "en", 0.0, 0.25, ("work stress", "anxiety", "grief"), "in person"),
    Counselor("t09", "zh", -0.35, 0.9, ("depression", "work stress", "anxiety"), "video"),
    Counselor("t10", "zh", 0.15, 0.2, ("anxiety", "grief", "depression"), "video"),
)
SESSIONS_PER_CLIENT = 4
MISSED = ("c13", 3)  # (client, session number): a drop the counselor's rating does not show
NOTICED = ("c21", 4)  # a drop the counselor's rating shows too
DROP = 1.7  # planted fall of the client's alliance, on the 1..5 scale

# --- the words ---------------------------------------------------------------------------
# Styles of a client's talk, from the session's alliance: warm, steady, guarded (open
# doubt) and withdrawn (short and polite; only the planted missed drop).

EN = {
    "open_first": [
        "Welcome. Take your time: what brings you here at the moment?",
        "Thanks for coming in. Where would you like to start today?",
        "Hello, and welcome. What made you decide to reach out now?",
        "It's good to meet you. What would you most like help with?",
    ],
    "open_later": [
        "Good to see you again. How did the week go since we last met?",
        "Welcome back. Last time we agreed on something to try. How did it go?",
        "Hi again. Before we dive in, what's been on your mind this week?",
        "Hello. I've been wondering how the plan from last session worked out for you.",
        "Come in, have a seat. What would be most useful to talk about today?",
    ],
    "intro": {
        "anxiety": [
            "I've been anxious for months and it's getting in the way of everything.",
            "My heart races at night and my head won't stop. I'm worn out.",
            "A friend said I should talk to someone. I get nervous about almost anything now.",
        ],
        "depression": [
            "I can't get going with anything lately. Most days I just lie there.",
            "People at home say I've changed. I don't talk much and I don't go out.",
            "I feel useless, and nothing seems worth doing any more.",
        ],
        "work stress": [
            "Work is crushing me. I'm there late every night and it's never enough.",
            "My manager keeps adding things and I can't seem to say no.",
            "I get a headache every Sunday evening just thinking about going back in.",
        ],
        "grief": [
            "Since losing {who} I haven't been able to find my feet.",
            "I haven't slept properly since {who} died.",
            "Everyone says I should move on. I can't, not yet.",
        ],
    },
    "situation": {
        "anxiety": [
            "My chest gets tight before meetings and I keep replaying what could go wrong.",
            "I avoided the supermarket again because it felt too crowded. I hate that I do that.",
            "The worrying starts the moment I wake up. By lunchtime I'm exhausted from it.",
            "I had two nights where my heart was racing and I couldn't get back to sleep.",
            "I keep checking my phone in case something bad has happened at home.",
            "I managed the train once, but I spent the whole ride counting the stops.",
        ],
        "depression": [
            "Most days I stay in bed until noon. Getting dressed feels like a mountain.",
            "I stopped answering messages from friends. I don't have anything to tell them.",
            "Things I used to enjoy just feel flat. I watched a film and can't say what happened.",
            "I did go for one walk. It didn't fix anything, but it was something.",
            "I feel heavy all the time, like I'm moving through water.",
            "I keep telling myself I'm lazy, and then I feel worse for not doing anything.",
        ],
        "work stress": [
            "My manager added another project and I said yes again, though I'm already behind.",
            "I'm answering emails at midnight and then lying awake going over my list.",
            "I snapped at a colleague on the team call. I felt awful afterwards.",
            "There's a restructure coming and nobody will tell us anything concrete.",
            "I took a proper lunch break twice this week. It felt strange, but good.",
            "I get headaches by the afternoon, and I'm drinking far too much coffee.",
        ],
        "grief": [
            "It's the evenings that are hardest. The house is so quiet now.",
            "I found one of {who}'s notes in a drawer and I couldn't stop crying.",
            "People keep saying it gets easier. It hasn't yet.",
            "I finally sorted some of {who}'s things. I kept the old cardigan.",
            "I feel guilty when I laugh at something, as if I'm forgetting.",
            "Some days I'm fine and then a song in a shop undoes me completely.",
        ],
    },
    "reflect": {
        "anxiety": [
            "So the worry arrives before anything has happened, and it takes up a lot of room.",
            "It sounds like avoiding it brings relief at first and then a kind of disappointment.",
            "Your body seems to sound the alarm even when part of you knows you're safe.",
            "You noticed the pattern even while you were in it. That's not nothing.",
        ],
        "depression": [
            "It sounds like everything takes more effort than it used to, even small things.",
            "You came today even though it felt hard. I'd like to notice that.",
            "When the flatness is there, it's hard to remember why anything mattered.",
            "Pulling away from people seems to protect you, and also leaves you more alone.",
        ],
        "work stress": [
            "It sounds like saying yes keeps the peace in the moment and costs you later.",
            "The work doesn't stop when the day ends, so your mind doesn't either.",
            "The uncertainty seems to keep you on alert all the time.",
            "It sounds like there's very little room left for you in the week.",
        ],
        "grief": [
            "The quiet seems to make the loss very present.",
            "Little things seem to bring it all back at once.",
            "It sounds like part of you worries that feeling better would mean letting go.",
            "Grief doesn't move in a straight line. It comes in waves, as you describe.",
        ],
    },
    "technique": {
        "anxiety": [
            "When the worry starts, what is the first thought that goes through your mind?",
            "From zero to ten, how strong was the fear at the start, and how strong at the end?",
            "What would you tell a friend who had exactly this worry?",
            "Could we slow your breathing together for a minute and see what changes?",
        ],
        "depression": [
            "What's one small thing that used to give you a lift, even for a moment?",
            "When you tell yourself you're lazy, whose voice does that sound like?",
            "If we planned one activity for each day, what would be realistic, not ideal?",
            "When did you feel even slightly less heavy this week?",
        ],
        "work stress": [
            "What do you think would happen if you said 'not this week' to the next request?",
            "Which of the things on your plate are yours, and which did you take on to help?",
            "What would a reasonable end to your working day look like?",
            "When you picture raising the workload with your manager, what comes up?",
        ],
        "grief": [
            "What do you miss most in these quiet evenings?",
            "Would you like to tell me a little about {who}?",
            "What do you think {who} would say about the way you're carrying this?",
            "Is there a way of remembering {who} that would feel right to you?",
        ],
    },
    "plan": {
        "anxiety": [
            "This week, could you note the worry when it comes, and what actually happened?",
            "How about one small step, the supermarket at a quiet hour, staying until the fear "
            "drops a little?",
            "Let's try five minutes of slow breathing each morning and see if the day starts "
            "differently.",
        ],
        "depression": [
            "Shall we pick one small activity for each day and rate your mood before and after?",
            "Would you be willing to reply to one message this week, just one?",
            "Could you try a short walk most days? Ten minutes is enough. See what you notice.",
        ],
        "work stress": [
            "Could you try finishing at a fixed time on two evenings and notice what happens?",
            "What if you wrote tomorrow's list before closing the laptop, so it stays at work?",
            "Would it help to practise here what you'd say to your manager, before the real thing?",
        ],
        "grief": [
            "Some people find it helps to write to the person they lost. Would that suit you?",
            "Maybe this week you could plan something gentle for the evenings, so they're not "
            "empty.",
            "Would you like to bring a photo next time and tell me about it?",
        ],
    },
    "checkin": {
        "warm": [
            "Honestly, a bit better.",
            "It was mixed, but I tried what we talked about.",
            "Better than I expected, actually.",
            "I've been looking forward to today.",
        ],
        "steady": [
            "Up and down.",
            "About the same, I think.",
            "Not bad, not great.",
            "It's been a busy week.",
        ],  # fmt: skip
        "guarded": [
            "Not much has changed.",
            "Same as always, really.",
            "I nearly cancelled today.",
            "I'm tired, to be honest.",
        ],
        "withdrawn": [
            "It was fine.",
            "Okay, I guess. Nothing special.",
            "Fine. Busy.",
            "Nothing much to say, really.",
        ],
    },
    "detail_end": {
        "warm": ["I really want to get on top of this.", "I think I can see it more clearly now."],
        "steady": ["", "I don't know what to make of it."],
        "guarded": ["I don't see how talking changes that.", "It keeps coming back anyway."],
    },
    "detail_withdrawn": [
        "I don't really know.",
        "It's hard to explain.",
        "The same things as before.",
        "Not really, no.",
    ],
    "answer": {
        "warm": [
            "Yes, that's exactly it. I hadn't put it into words before.",
            "Hmm. I've never looked at it that way. It actually helps.",
            "I'd tell a friend to go easier on themselves. Funny how I can't do that for me.",
            "Okay, let's try. I trust where you're going with this.",
            "That's a good question. I think it's the feeling of letting people down.",
        ],
        "steady": [
            "Maybe. Some of that fits, I'm not sure about all of it.",
            "I'll have to think about that. It's not something I've asked myself.",
            "Honestly, I'm not sure. Maybe a little.",
            "I can see the point, it's just hard to do in the moment.",
        ],
        "guarded": [
            "I don't know. We've talked about this before and it didn't change much.",
            "I'm not sure this is the right thing to focus on, to be honest.",
            "That sounds fine in here, but it's different when I'm actually in it.",
            "I guess. I was hoping we'd talk about something else today.",
        ],
        "withdrawn": [
            "Sure.",
            "I suppose so.",
            "Maybe. I don't know.",
            "If you think so.",
            "Okay.",
        ],  # fmt: skip
    },
    "agree": {
        "warm": [
            "Yes, I can do that. I'll put a reminder on my phone.",
            "I like that. It feels doable.",
            "Okay. I'll try it and tell you how it went next time.",
            "That's a good idea. I think I'm ready for that.",
        ],
        "steady": [
            "I can try, though this week is quite full.",
            "Maybe two days, not every day.",
            "Alright. I'll see how far I get.",
            "I'll give it a go, no promises.",
        ],
        "guarded": [
            "I'll see. Last time something like that didn't really work for me.",
            "I don't know if that's going to help, but fine.",
            "I'm not sure I have the energy for homework right now.",
            "Maybe. I'd rather not make a plan yet.",
        ],
        "withdrawn": ["Fine, I'll try.", "Okay, sure.", "Yes, that's fine.", "Alright."],
    },
    "ask_feedback": [
        "Before we finish, how has today's session been for you?",
        "How did today feel, talking about this?",
        "Is there anything about how we're working that you'd like to be different?",
    ],
    "feedback": {
        "warm": [
            "It helped. I feel like we're working on the right thing.",
            "Good. I feel listened to here.",
            "Useful. I know what I'm trying this week.",
        ],
        "steady": [
            "Okay. Some parts were useful.",
            "It was fine. I'm still taking it in.",
            "Good, I think. It's a lot to think about.",
        ],
        "guarded": [
            "I'm not sure we're getting anywhere, honestly.",
            "It's alright. I just don't feel much different.",
            "Sometimes I feel we go over the same ground.",
        ],
        "withdrawn": [
            "It was fine. Thank you.",
            "No, it's all fine.",
            "Nothing to change. It's fine.",
        ],
    },
    "close": [
        "Thank you for being so open today. See you next week.",
        "Take care of yourself this week. We'll pick this up next time.",
        "Good work today. Let's see how the week goes.",
    ],
    "bye": {
        "warm": ["Thank you. See you next week."],
        "steady": ["Thanks. See you."],
        "guarded": ["Okay. Bye."],
        "withdrawn": ["Thanks. Bye."],
    },
    "who": ["my mother", "my father", "my partner", "my brother"],
}

ZH = {
    "open_first": [
        "欢迎你来。慢慢说，最近是什么让你想来咨询？",
        "你好，谢谢你过来。今天你想从哪里开始？",
        "很高兴见到你。你最希望在这里得到哪方面的帮助？",
    ],
    "open_later": [
        "又见面了。上次见面以后，这一周过得怎么样？",
        "欢迎回来。上次我们约好试一件事，进行得怎么样？",
        "你好。开始之前，这周你心里最挂着的是什么？",
        "今天你觉得谈什么对你最有帮助？",
    ],
    "intro": {
        "anxiety": [
            "这几个月我一直很紧张，什么事都往坏处想，已经影响到生活了。",
            "我经常心慌，晚上睡不着，脑子停不下来。",
            "朋友劝我来看看，说我最近太容易紧张了。",
        ],
        "depression": [
            "我最近什么都提不起劲，每天就是躺着。",
            "家里人觉得我变了，话少了，也不出门了。",
            "我觉得自己很没用，做什么都没意思。",
        ],
        "work stress": [
            "工作压得我喘不过气，每天加班到很晚。",
            "领导不停地给我加任务，我也不会拒绝。",
            "一想到第二天要上班，我就开始头疼。",
        ],
        "grief": [
            "{who}走了以后，我一直缓不过来。",
            "自从{who}去世，我晚上总是睡不着。",
            "大家都说要往前看，可是我做不到。",
        ],
    },
    "situation": {
        "anxiety": [
            "开会之前我胸口发紧，一直在想会出什么错。",
            "这周我又没去超市，人太多了，我受不了。",
            "早上一醒来就开始担心，到中午已经很累了。",
            "有两个晚上心跳得很快，怎么也睡不着。",
            "我总是反复看手机，怕家里出什么事，我知道这不太合理。",
            "这周我坐了一次地铁，但是一路都在数站。",
        ],
        "depression": [
            "大部分时间我都躺到中午，连穿衣服都觉得很难。",
            "朋友发消息我都没回，不知道说什么。",
            "以前喜欢的事情现在都没感觉了，看了部电影也记不住讲什么。",
            "我出去走了一次，没什么改变，但总算出门了。",
            "整个人很沉，像在水里走路一样。",
            "我老是骂自己懒，骂完更不想动了。",
        ],
        "work stress": [
            "领导又给我加了一个项目，我又答应了，其实手上的都还没做完。",
            "半夜还在回邮件，躺下以后脑子里全是待办事项。",
            "开会的时候我冲同事发了火，事后特别后悔。",
            "公司要调整架构，可是谁也不告诉我们具体怎么回事。",
            "这周我有两天好好吃了午饭，感觉有点怪，但挺好的。",
            "一到下午就头疼，咖啡喝得太多了。",
        ],
        "grief": [
            "晚上最难熬，家里太安静了。",
            "我在抽屉里翻到{who}写的字条，一下子就哭了。",
            "大家都说时间长了就好了，可是还没有。",
            "我终于整理了一些{who}的东西，留下了一件旧外套。",
            "有时候我笑了一下，就觉得很内疚，好像在忘记什么。",
            "有时候本来好好的，听到一首歌就全崩了。",
        ],
    },
    "reflect": {
        "anxiety": [
            "听起来事情还没发生，担心已经占了很大的地方。",
            "避开它的那一刻会松一口气，之后又有些失望，是吗？",
            "你的身体好像一直在拉警报，哪怕你知道自己是安全的。",
            "你在紧张的时候还能注意到这个模式，这很不容易。",
        ],
        "depression": [
            "听起来现在做什么都比以前费力，哪怕是小事。",
            "虽然很难，你今天还是来了，我想特别留意这一点。",
            "那种没感觉的状态来的时候，很难想起什么事曾经重要过。",
            "躲开别人好像能保护你，但也让你更孤单。",
        ],
        "work stress": [
            "听起来答应下来能让当下好过一点，但之后的代价是你自己扛。",
            "工作下班了也停不下来，所以脑子也停不下来。",
            "不确定的事情好像让你一直处在戒备状态。",
            "听起来一周里几乎没有留给你自己的空间。",
        ],
        "grief": [
            "家里的安静好像让失去变得特别真切。",
            "一些小事好像一下子就把所有的感受都带回来了。",
            "听起来你有点担心，好起来就意味着放下。",
            "悲伤不是一条直线，会一阵一阵地来，就像你说的。",
        ],
    },
    "technique": {
        "anxiety": [
            "担心开始的时候，你脑子里第一个念头是什么？",
            "如果用零到十来打分，一开始害怕有几分？到最后呢？",
            "如果好朋友也有一样的担心，你会对他说什么？",
            "我们一起把呼吸放慢一分钟，看看有什么变化，好吗？",
        ],
        "depression": [
            "以前有什么小事能让你稍微开心一点，哪怕一会儿也好？",
            "你骂自己懒的时候，这个声音像谁？",
            "如果每天安排一件事，什么是现实的，而不是理想的？",
            "这周有没有哪一刻，觉得稍微轻松一点？",
        ],
        "work stress": [
            "如果下次有人找你，你说“这周不行”，你觉得会发生什么？",
            "手上的事，哪些是真正属于你的，哪些是你帮别人揽下的？",
            "一个合理的下班时间，对你来说是什么样的？",
            "想到要跟领导谈工作量，你心里会冒出什么？",
        ],
        "grief": [
            "这些安静的晚上，你最想念的是什么？",
            "你愿意跟我说说{who}吗？",
            "你觉得{who}看到你现在这样，会对你说什么？",
            "有没有一种纪念{who}的方式，让你觉得是对的？",
        ],
    },
    "plan": {
        "anxiety": [
            "这周可以试试，担心出现的时候写下来，再记下后来实际发生了什么，好吗？",
            "要不要试一小步，比如人少的时候去超市，待到害怕降下来一点再走？",
            "每天早上花五分钟慢慢呼吸，看看一天的开头会不会不一样。",
        ],
        "depression": [
            "我们每天挑一件小事，做之前和做之后给心情打个分，怎么样？",
            "这周愿不愿意回一条消息，就一条？",
            "每天试着散步十分钟就够了，留意一下自己注意到了什么。",
        ],
        "work stress": [
            "这周可以试两个晚上固定时间下班，看看会发生什么吗？",
            "合上电脑之前先把明天的清单写好，让它留在公司，你觉得呢？",
            "要不要先在这里练习一下跟领导怎么说，再去真的说？",
        ],
        "grief": [
            "有的人觉得给离开的人写封信会有帮助，你觉得适合你吗？",
            "这周晚上也许可以安排一点轻松的事，让晚上不那么空。",
            "下次愿不愿意带一张照片来，跟我讲讲？",
        ],
    },
    "checkin": {
        "warm": [
            "说实话，好一点了。",
            "有好有坏，不过我试了上次说的办法。",
            "比我想的好，真的。",
            "我其实挺期待今天的。",
        ],  # fmt: skip
        "steady": ["起起伏伏吧。", "差不多，跟之前一样。", "不算好也不算坏。", "这周挺忙的。"],
        "guarded": ["没什么变化。", "还是老样子。", "我今天差点就不来了。", "说实话，挺累的。"],
        "withdrawn": ["还行。", "挺好的，没什么特别的。", "还可以，就是忙。", "没什么好说的。"],
    },
    "detail_end": {
        "warm": ["我想把这个处理好。", "现在好像看得清楚一点了。"],
        "steady": ["", "我也不知道该怎么看。"],
        "guarded": ["我不觉得说说能改变什么。", "反正它总会回来。"],
    },
    "detail_withdrawn": ["我也说不清。", "不太好说。", "还是那些事。", "没有，没什么。"],
    "answer": {
        "warm": [
            "对，就是这样，我以前从来没说出来过。",
            "嗯，我从没这样想过，这样想其实有帮助。",
            "我大概会劝朋友对自己好一点，可对自己就做不到。",
            "好，我们试试吧，我相信你的方向。",
            "这个问题好，我觉得是怕让别人失望。",
        ],
        "steady": [
            "可能吧，有一部分说中了，也不全是。",
            "我得想想，我没这样问过自己。",
            "说实话我不太确定，也许有一点吧。",
            "道理我明白，就是当时很难做到。",
        ],
        "guarded": [
            "不知道，这个我们之前说过，也没什么改变。",
            "说实话，我不确定该关注这个。",
            "在这里说说还行，真到那个时候就不一样了。",
            "也许吧，我本来想今天聊点别的。",
        ],
        "withdrawn": ["嗯。", "可能吧。", "不知道。", "您说得对。", "好的。"],
    },
    "agree": {
        "warm": [
            "好，我可以做到，我在手机上设个提醒。",
            "我喜欢这个，感觉做得到。",
            "好的，我试试，下次告诉你结果。",
            "这个主意好，我觉得我准备好了。",
        ],  # fmt: skip
        "steady": [
            "我试试吧，不过这周挺满的。",
            "也许两天，不是每天。",
            "行，我看能做到哪儿。",
            "我试一下，不敢保证。",
        ],  # fmt: skip
        "guarded": [
            "再说吧，上次类似的也没什么用。",
            "不知道有没有用，不过行吧。",
            "我现在真没力气做作业。",
            "也许吧，我还不想做计划。",
        ],  # fmt: skip
        "withdrawn": ["好，我试试。", "嗯，可以。", "行，没问题。", "好的。"],
    },
    "ask_feedback": [
        "结束之前，你觉得今天的咨询怎么样？",
        "今天聊这些，感觉如何？",
        "我们的合作方式，有没有什么你希望改变的？",
    ],
    "feedback": {
        "warm": [
            "有帮助，我觉得我们在做对的事。",
            "挺好的，在这里我觉得有人在听我说。",
            "有用，我知道这周要试什么了。",
        ],  # fmt: skip
        "steady": ["还行，有些部分有用。", "还可以，我还在消化。", "挺好的吧，要想的东西挺多。"],
        "guarded": [
            "说实话，我不确定有没有进展。",
            "还行吧，就是没觉得有什么不同。",
            "有时候觉得我们在原地打转。",
        ],  # fmt: skip
        "withdrawn": ["挺好的，谢谢。", "没有，都挺好。", "不用改，都可以。"],
    },
    "close": [
        "谢谢你今天这么坦诚，下周见。",
        "这周照顾好自己，下次我们接着聊。",
        "今天辛苦了，看看这周怎么样。",
    ],  # fmt: skip
    "bye": {
        "warm": ["谢谢你，下周见。"],
        "steady": ["谢谢，再见。"],
        "guarded": ["好，再见。"],
        "withdrawn": ["谢谢，再见。"],
    },
    "who": ["妈妈", "爸爸", "爱人", "哥哥"],
}
WORDS = {"en": EN, "zh": ZH}


def style_of(level: float, planted_missed: bool) -> str:
    """How a client talks in a session, from that session's alliance."""
    if planted_missed:
        return "withdrawn"
    return "warm" if level >= 4.1 else "steady" if level >= 3.5 else "guarded"


def transcript(
    rng: np.random.Generator, words: dict, condition: str, who: str, number: int, style: str
) -> list[dict[str, str]]:
    """8, 10 or 12 turns, counselor first, from the phrase lists (no two sessions alike)."""

    def pick(options: list[str]) -> str:
        return str(options[int(rng.integers(len(options)))]).replace("{who}", who)

    space = "" if words is ZH else " "
    if number == 1:
        opening, checkin = pick(words["open_first"]), pick(words["intro"][condition])
    else:
        opening = pick(words["open_later"])
        checkin = pick(words["checkin"][style])
        if style != "withdrawn":
            checkin += space + pick(words["situation"][condition])
    if style == "withdrawn":
        detail = pick(words["detail_withdrawn"])
    else:
        detail = pick(words["situation"][condition]) + space + pick(words["detail_end"][style])
    turns = [
        ("counselor", opening),
        ("client", checkin),
        ("counselor", pick(words["reflect"][condition])),
        ("client", detail.strip()),
        ("counselor", pick(words["technique"][condition])),
        ("client", pick(words["answer"][style])),
        ("counselor", pick(words["plan"][condition])),
        ("client", pick(words["agree"][style])),
    ]
    extra = 4 if style == "withdrawn" else int(rng.choice([0, 2, 4]))
    if extra:
        turns += [
            ("counselor", pick(words["ask_feedback"])),
            ("client", pick(words["feedback"][style])),
        ]
    if extra == 4:
        turns += [("counselor", pick(words["close"])), ("client", pick(words["bye"][style]))]
    return [{"speaker": speaker, "text": text} for speaker, text in turns]


def ratings(
    rng: np.random.Generator, centre: dict[str, float], bias: dict[str, float], sd: float
) -> dict[str, int]:
    """Integer ratings 1..5 for the twelve items around a level per dimension."""
    values = {}
    for item in ITEMS:
        raw = centre[item.split("_")[0]] + ITEM_SHIFT[item] + bias.get(item, 0.0)
        values[item] = int(np.clip(np.rint(raw + rng.normal(0, sd)), 1, 5))
    return values


def build() -> list[dict]:
    """Every monitoring session, in client and session order."""
    rng = np.random.default_rng(SEED)
    sessions: list[dict] = []
    client_number = 6  # c01..c05 are the annotation demo's clients
    for counselor in COUNSELORS:
        words = WORDS[counselor.language]
        for condition in counselor.conditions:
            client = f"c{client_number:02d}"
            client_number += 1
            own = rng.normal(0, CLIENT_SD)
            profile = {d: own + rng.normal(0, CLIENT_DIMENSION_SD) for d in DIMENSIONS}
            bias = {item: float(rng.normal(0, CLIENT_ITEM_SD)) for item in ITEMS}
            who = str(words["who"][int(rng.integers(len(words["who"])))])
            counselor_before: dict[str, int] | None = None
            for number in range(1, SESSIONS_PER_CLIENT + 1):
                wobble = rng.normal(0, SESSION_SD)
                drop = DROP if (client, number) in (MISSED, NOTICED) else 0.0
                if (client, number - 1) == MISSED:
                    drop = DROP * 0.6  # partly back the session after
                level = {
                    d: MEAN[d]
                    + counselor.level
                    + profile[d]
                    + GROWTH * (number - 1)
                    + wobble
                    - drop
                    for d in DIMENSIONS
                }
                client_ratings = ratings(rng, level, bias, ITEM_SD)
                seen = {  # the counselor's view: their own optimism, part of the client's level
                    d: MEAN[d] + counselor.gap
                    + COUNSELOR_TRACKS * (level[d] - MEAN[d] + (drop if client == MISSED[0] else 0))
                    for d in DIMENSIONS
                }  # fmt: skip
                counselor_ratings = ratings(rng, seen, {}, 0.3)
                if (client, number) == MISSED and counselor_before is not None:
                    # planted: the counselor rates this session as before or a little higher
                    counselor_ratings = {
                        item: max(score, min(5, counselor_before[item] + (item.endswith("_2"))))
                        for item, score in counselor_before.items()
                    }
                counselor_before = counselor_ratings
                missed = (client, number) == MISSED
                style = style_of(sum(level.values()) / len(level), missed)
                if (client, number) == NOTICED:
                    style = "guarded"
                sessions.append(
                    {
                        "session_id": f"m{len(sessions) + 1:03d}",
                        "client_id": client,
                        "counselor_id": counselor.id,
                        "session_number": number,
                        "language": counselor.language,
                        "turns": transcript(rng, words, condition, who, number, style),
                        "client_ratings": client_ratings,
                        "counselor_ratings": counselor_ratings,
                        "metadata": {"condition": condition, "modality": counselor.modality},
                    }
                )
    return sessions


def main() -> None:
    lines = [json.dumps(session, ensure_ascii=False) for session in build()]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{OUT}: {len(lines)} sessions")


if __name__ == "__main__":
    main()
