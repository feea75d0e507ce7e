"""The interviewer's question at the start of an answer window is found and set apart."""

from __future__ import annotations

from services.speech.prompt import prompt_length
from services.speech.text import TimedWord


def _words(text: str, start: float = 0.0, step: float = 0.3) -> list[TimedWord]:
    tokens = text.split(" ") if " " in text else list(text)
    return [
        TimedWord(f" {t}" if " " in text else t, start + i * step, start + i * step + 0.25)
        for i, t in enumerate(tokens)
    ]


QUESTION = "Describe a production incident you were responsible for resolving."


def test_a_misheard_question_is_still_the_prompt() -> None:
    heard = _words("I decided to describe a production incident you were responsible for resolving.")
    answer = _words("One Friday evening our order service started returning errors.", start=5.0)
    assert prompt_length([*heard, *answer], QUESTION) == len(heard)


def test_an_answer_without_the_question_keeps_every_word() -> None:
    answer = _words("One Friday evening our order service started returning errors for about fifteen percent.")
    assert prompt_length(answer, QUESTION) == 0


def test_an_answer_that_only_mentions_the_topic_is_not_the_prompt() -> None:
    answer = _words("The incident I resolved was a production outage of our order service.")
    assert prompt_length(answer, QUESTION) == 0


def test_chinese_question_read_with_small_errors() -> None:
    question = "请描述一次你负责解决的线上故障。"
    heard = _words("请描述一次你负责解决的线上故障")  # one character per word, no punctuation
    answer = _words("有一个周五晚上我们的订单服务开始报错", start=4.0)
    assert prompt_length([*heard, *answer], question) == len(heard)
    misheard = _words("请描术一次你负责解决的线上故障")  # 述 -> 术
    assert prompt_length([*misheard, *answer], question) == len(misheard)


def test_empty_inputs() -> None:
    assert prompt_length([], QUESTION) == 0
    assert prompt_length(_words("Hello there."), "?!") == 0
