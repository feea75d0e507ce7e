"""Cue lexicons for answer analysis, English and Chinese: STAR structure, specificity and hedging.

Patterns are regular expressions over the transcript (English lower-cased); each hit becomes a quote with
its time, so a reviewer sees why an answer was judged structured, concrete or hedged.
"""

from __future__ import annotations

import re

_I = re.IGNORECASE

_EN_ACTION_VERBS = (
    "built|led|lead|decided|added|introduced|moved|proposed|suggested|checked|rolled|wrote|created|designed|"
    "set up|split|told|called|organi[sz]ed|analy[sz]ed|implemented|ran|asked|met|negotiated|fixed|changed|"
    "reviewed|trained|started|measured|mapped|listened|apologi[sz]ed|escalated|followed up|interviewed|"
    "prioriti[sz]ed|shipped|launched|tested|wrote|presented|convinced|coached|mentored|offered|refunded|"
    "identified|automated|migrated|refactored|profiled|cached|researched|ran|cut|closed|found|took"
)
EN_STAR: dict[str, re.Pattern[str]] = {
    "situation": re.compile(
        r"\b(?:when i|last (?:year|month|quarter|week)|in my (?:last|previous|first)|at my (?:last|previous)|"
        r"one (?:day|time|friday|evening|morning)|there was a|we had a|a customer|a client|our team was)\b",
        _I,
    ),
    "task": re.compile(
        r"\b(?:my (?:goal|task|job|role|responsibility)|i was responsible|i owned|i was asked|i needed to|"
        r"we needed to|i had to|the (?:target|goal|deadline) was|i took (?:the )?(?:lead|ownership))\b",
        _I,
    ),
    "action": re.compile(rf"\b(?:i|we) (?:then |first |also |quickly )?(?:{_EN_ACTION_VERBS})\b", _I),
    "result": re.compile(
        r"\b(?:as a result|result(?:ed)?|so that|dropped|reduced|increased|improved|grew|saved|went (?:up|down|back)|"
        r"percent|finished|delivered|achieved|closed the|renewed|signed|promoted|since then|now (?:we|i)|"
        r"from \w+ (?:\w+ )?to \w+)\b",
        _I,
    ),
}
ZH_STAR: dict[str, re.Pattern[str]] = {
    "situation": re.compile(r"当时|有一次|有一个|去年|上一个|上个月|之前在|那时|一位客户|一个客户|一家客户"),
    "task": re.compile(r"负责|目标|任务|需要|要求|由我|我的职责|截止"),
    "action": re.compile(
        r"我(?:们)?(?:先|首先|随后|然后|马上|主动|亲自)?(?:决定|带|做了|写|加了|建议|提出|把|设计|组织|推动|联系|"
        r"分析|安排|拆|引入|检查|看了|回滚|打电话|道歉|跟进|访谈|整理|测试|上线|发布|培训|辅导|说服|制定|调研|"
        r"梳理|优化|重构|排查|沟通)"
    ),
    "result": re.compile(
        r"结果|最终|最后|降到|降低|降回|提升|提高|增长|减少|节省|完成|达到|百分之|签下|续约|此后|从.{1,12}到"
    ),
}

_EN_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|sixty|"
    r"seventy|eighty|ninety|hundred|thousand|million|percent|half|double"
)
EN_NUMBERS = re.compile(rf"\d[\d,.]*%?|\b(?:{_EN_NUMBER_WORDS})\b", _I)
ZH_NUMBERS = re.compile(
    r"\d[\d,.]*%?|百分之[零一二两三四五六七八九十百]+|[两三四五六七八九十百千万][零一二两三四五六七八九十百千万]*(?:个|人|天|周|月|年|倍|秒|毫秒|小时|分钟|次|条|项|家|位|元|万)"
)

#: Tools, methods and named things that make an answer concrete (both languages write these in Latin script).
TOOLS = re.compile(
    r"\b(?:api|sql|redis|kafka|postgres(?:ql)?|mysql|python|java|go|rust|kubernetes|docker|aws|gcp|azure|git|"
    r"jira|excel|salesforce|hubspot|crm|zendesk|figma|okr|kpi|nps|csat|a/b|sla|p99|ci|cd|grafana|prometheus|"
    r"tableau|amplitude|sprint|roadmap|dashboard|postmortem|pagination|tracing|linkedin)\b",
    _I,
)
ZH_TOOLS = re.compile(
    r"数据库|监控|复盘|链路追踪|缓存|分页|看板|路线图|用户访谈|问卷|灰度|报表|工单|客户关系管理|知识库|需求文档|原型"
)
CAPITALISED_NAME = re.compile(r"(?<=[a-z,] )[A-Z][A-Za-z0-9]+(?:[A-Z][a-z0-9]+)*")

EN_HEDGES = re.compile(
    r"\b(?:i guess|i think|maybe|probably|kind of|sort of|not sure|perhaps|i suppose|somewhat|"
    r"i don'?t (?:really |remember|know)|somewhere|something like|more or less|hopefully|i believe)\b",
    _I,
)
ZH_HEDGES = re.compile(
    r"可能|也许|大概|好像|应该吧|差不多|我觉得|不太确定|不太记得|记不清|随便|还行|有点|一些事情|什么的"
)

__all__ = [
    "CAPITALISED_NAME",
    "EN_HEDGES",
    "EN_NUMBERS",
    "EN_STAR",
    "TOOLS",
    "ZH_HEDGES",
    "ZH_NUMBERS",
    "ZH_STAR",
    "ZH_TOOLS",
]
