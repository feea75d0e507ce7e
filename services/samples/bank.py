# ruff: noqa: RUF001, RUF002  (Chinese text uses full-width punctuation on purpose)
"""Interview questions and scripted answers for a software-engineer opening.

Answer markup (parsed by :func:`services.samples.script.parse_answer`):

- ``<um>`` a filler word or phrase, spoken as its own clip so its timing is exact;
- ``|1.2|`` a deliberate silent pause of that many seconds;
- ``,`` ``.`` ``?`` ``!`` (and ``，。？！、``) end a phrase; everything else is spoken text.

Strong answers follow STAR (situation, task, action, result) with concrete actions and numbers; weak answers
are vague, hedging and short. Fillers: en ``um``, ``uh``, ``like``, ``you know``; zh 嗯, 呃, 那个, 就是说, 然后.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.samples.spec import Candidate, Lang

EN_FILLERS = ("um", "uh", "like", "you know")
ZH_FILLERS = ("嗯", "呃", "那个", "就是说", "然后")


@dataclass(frozen=True)
class BankItem:
    """One question with its answers per language and candidate strength."""

    bank_id: str
    question: dict[Lang, str]
    answers: dict[tuple[Lang, Candidate], str]

    def answer(self, lang: Lang, candidate: Candidate) -> str:
        return self.answers[(lang, candidate)]


BANK: tuple[BankItem, ...] = (
    BankItem(
        bank_id="intro",
        question={
            "en": "Thanks for joining. Could you tell me about yourself and your recent work?",
            "zh": "欢迎你来面试。请先介绍一下你自己和最近的工作。",
        },
        answers={
            ("en", "strong"): (
                "Sure. I am a backend engineer with six years of experience, mostly in payments. "
                "For the last two years I have led a team of four engineers that owns the checkout service. "
                "<um> |0.8| We handle about three thousand requests per second at peak. "
                "Last year I moved our deployments from weekly releases to daily ones, "
                "and our change failure rate dropped from twelve percent to four percent."
            ),
            ("en", "weak"): (
                "<um> |0.9| So, I have done a lot of different things. <like> backend stuff mostly, "
                "<you know>, some frontend too. <uh> |1.1| I guess I just help wherever the team needs me."
            ),
            ("zh", "strong"): (
                "好的。我是一名后端工程师，有六年工作经验，主要做支付系统。"
                "最近两年我带一个四人小组，负责结账服务。<嗯> |0.8| 高峰期每秒大约三千个请求。"
                "去年我把发布从每周一次改成每天一次，变更失败率从百分之十二降到了百分之四。"
            ),
            ("zh", "weak"): (
                "<嗯> |0.9| 我做过挺多不同的事情。<那个> 主要是后端，<就是说>，前端也做一点。"
                "<呃> |1.1| 反正哪里需要我就去帮忙吧。"
            ),
        },
    ),
    BankItem(
        bank_id="conflict",
        question={
            "en": "Tell me about a time you disagreed with a teammate. How did you handle it?",
            "zh": "说一说你和同事意见不一致的一次经历。你是怎么处理的？",
        },
        answers={
            ("en", "strong"): (
                "In my last project, a senior colleague wanted to rewrite our billing module from scratch. "
                "I thought that was too risky with a launch six weeks away. "
                "<uh> |0.7| I suggested we measure first. We spent two days profiling "
                "and found that ninety percent of the slowness came from three queries. "
                "I proposed fixing those and scheduling the rewrite after launch. "
                "He agreed, we cut the page load time from four seconds to under one second, "
                "and we shipped on time."
            ),
            ("en", "weak"): (
                "<um> |1.0| I don't really have conflicts with people. <uh> Usually I just go along "
                "with what the team wants, <you know>. It's <like>, not worth arguing about, I think."
            ),
            ("zh", "strong"): (
                "上一个项目里，一位资深同事想把计费模块完全重写。我认为离上线只有六周，风险太大。"
                "<呃> |0.7| 我建议先做测量。我们花了两天做性能分析，发现百分之九十的慢来自三条查询。"
                "我提出先优化这三条查询，上线后再安排重写。他同意了，页面加载时间从四秒降到了一秒以内，"
                "我们也按时上线了。"
            ),
            ("zh", "weak"): (
                "<嗯> |1.0| 我一般不跟别人起冲突。<呃> 通常大家怎么定我就怎么做，<那个>，我觉得没必要争吧。"
            ),
        },
    ),
    BankItem(
        bank_id="incident",
        question={
            "en": "Describe a production incident you were responsible for resolving.",
            "zh": "请描述一次你负责处理的线上故障。",
        },
        answers={
            ("en", "strong"): (
                "One Friday evening our order service started returning errors for about fifteen percent "
                "of requests. I was on call, so I took the incident lead. "
                "<um> |0.8| I checked the dashboards and saw the database connection pool was exhausted. "
                "A deploy two hours earlier had removed a timeout on a slow partner call. "
                "I rolled it back within ten minutes, and errors went back to zero. "
                "Afterwards I wrote the postmortem and added a lint rule that requires timeouts on outbound calls. "
                "We have not had that class of incident since."
            ),
            ("en", "weak"): (
                "<uh> |1.2| There was this outage once. <um> Something with the database, I think. "
                "<like> a lot of people were looking at it, and, <you know>, eventually it got fixed."
            ),
            ("zh", "strong"): (
                "有一个周五晚上，订单服务大约百分之十五的请求开始报错。当时我值班，所以由我牵头处理。"
                "<嗯> |0.8| 我看了监控，发现数据库连接池被耗尽了。两个小时前的一次发布去掉了一个慢接口的超时设置。"
                "我在十分钟内回滚了这次发布，错误率降回了零。之后我写了复盘报告，"
                "并加了一条检查规则，要求所有外部调用都必须设置超时。此后再也没有出现过这类故障。"
            ),
            ("zh", "weak"): (
                "<呃> |1.2| 有一次系统挂了。<嗯> 好像是数据库的问题吧。<然后> 很多人一起看，<就是说>，最后还是修好了。"
            ),
        },
    ),
    BankItem(
        bank_id="performance",
        question={
            "en": "Tell me about a time you improved the performance of a system.",
            "zh": "讲一次你提升系统性能的经历。",
        },
        answers={
            ("en", "strong"): (
                "Our search API had a p99 latency of eight hundred milliseconds, and the target was two hundred. "
                "I owned the fix. <um> |0.6| First I added tracing and found that half the time went "
                "into serializing large responses. I introduced pagination, cached the ten most common queries "
                "in Redis, and moved the ranking step into a batch job. "
                "Within three weeks p99 latency was one hundred and sixty milliseconds, "
                "and our infrastructure cost went down by twenty percent."
            ),
            ("en", "weak"): (
                "<um> I think I made some things faster. <uh> |0.9| We added caching, <like>, somewhere, "
                "and it was better after that. I don't remember the numbers, <you know>."
            ),
            ("zh", "strong"): (
                "我们的搜索接口百分之九十九分位延迟是八百毫秒，目标是两百毫秒，这件事由我负责。"
                "<嗯> |0.6| 我先加了链路追踪，发现一半的时间花在序列化大响应上。"
                "我加了分页，把最常见的十个查询放进缓存，又把排序改成了批处理任务。"
                "三周之内延迟降到了一百六十毫秒，基础设施成本也下降了百分之二十。"
            ),
            ("zh", "weak"): (
                "<嗯> 我好像让一些东西变快了。<呃> |0.9| 我们加了缓存，<那个>，加在某个地方，"
                "后来就好一些了。具体数字我不记得了。"
            ),
        },
    ),
    BankItem(
        bank_id="failure",
        question={
            "en": "Tell me about a project that did not go as planned. What did you learn?",
            "zh": "说一个没有按计划进行的项目。你从中学到了什么？",
        },
        answers={
            ("en", "strong"): (
                "I led a migration of our reporting jobs to a new data warehouse, planned for one quarter. "
                "<uh> |0.7| Halfway through we found that thirty of the two hundred jobs depended on "
                "undocumented behaviour. I told my manager early, split the work into three milestones, "
                "and moved the riskiest jobs first. We finished five weeks late, but with zero data loss. "
                "What I learned is to run a small pilot before estimating a migration, "
                "and I now do that on every project."
            ),
            ("en", "weak"): (
                "<um> |1.0| Most of my projects go fine, honestly. <uh> One was <like>, a bit late, "
                "but that was mostly because of other teams, <you know>. So, not much to learn there."
            ),
            ("zh", "strong"): (
                "我负责把报表任务迁移到新的数据仓库，原计划一个季度完成。<呃> |0.7| 做到一半，"
                "我们发现两百个任务里有三十个依赖没有文档的行为。我很早就告诉了经理，把工作拆成三个里程碑，"
                "先迁移风险最高的任务。最后晚了五周，但是没有丢失任何数据。我学到的是在估算迁移之前先做小规模试点，"
                "现在每个项目我都这样做。"
            ),
            ("zh", "weak"): (
                "<嗯> |1.0| 我的项目一般都挺顺利的。<呃> 有一个稍微晚了一点，<就是说>，"
                "主要是其他团队的原因。<然后> 也没学到什么。"
            ),
        },
    ),
    BankItem(
        bank_id="motivation",
        question={
            "en": "Why do you want to join our team?",
            "zh": "你为什么想加入我们团队？",
        },
        answers={
            ("en", "strong"): (
                "Three reasons. <um> |0.6| First, your platform processes real time data at a scale "
                "I have not worked with yet, and I want to grow there. Second, I read your engineering blog "
                "post about reducing alert noise by forty percent, and that is exactly the kind of work I enjoy. "
                "Third, the role includes mentoring, and I have mentored three junior engineers who were "
                "all promoted within eighteen months."
            ),
            ("en", "weak"): (
                "<uh> |0.8| It seems <like> a good company. <um> And, <you know>, I am looking for something new, "
                "so I thought, why not."
            ),
            ("zh", "strong"): (
                "有三个原因。<嗯> |0.6| 第一，你们的平台处理实时数据的规模是我还没有接触过的，我想在这方面成长。"
                "第二，我读过你们技术博客里把告警噪音降低百分之四十的文章，这正是我喜欢做的工作。"
                "第三，这个岗位包括带新人，我带过三位初级工程师，他们都在十八个月内得到了晋升。"
            ),
            ("zh", "weak"): ("<呃> |0.8| 感觉你们公司挺好的。<嗯> <然后> 我也想换个新环境，<那个>，就来试试吧。"),
        },
    ),
)
