# ruff: noqa: RUF001  (Chinese text uses full-width punctuation on purpose)
"""Answer scoring against the shipped competency models.

The main check is held out: each exemplar answer is scored against its competency with that answer removed
from the exemplars, so semantic similarity cannot simply find the answer itself. Strong answers must score
above weak ones for every competency of every shipped model, in English and in Chinese. The measures are also
checked one by one on small answers with known content, including the quotes and times behind them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.competency import Competency, CompetencyModelLibrary, ScoringWeights
from services.speech.scoring import (
    AnswerScorer,
    E5Embedder,
    hedging,
    keyword_coverage,
    semantic_similarity,
    specificity,
    star_structure,
)
from services.speech.text import TimedText, TimedWord

MODELS_DIR = Path(__file__).resolve().parents[2] / "competency-models"
#: Strong exemplars must beat weak ones by at least this many points (0-100).
MIN_MARGIN = 20.0


@pytest.fixture(scope="module")
def library() -> CompetencyModelLibrary:
    return CompetencyModelLibrary.from_directory(MODELS_DIR)


@pytest.fixture(scope="module")
def scorer(library: CompetencyModelLibrary) -> AnswerScorer:
    embedder = E5Embedder()
    # one batch for every exemplar of every model: batches are far faster than single texts
    answers = [
        answer
        for model in library
        for competency in model.competencies
        for group in (competency.exemplars.strong, competency.exemplars.weak)
        for answer in (*group.en, *group.zh)
    ]
    embedder.embed([*answers, *(TimedText.from_plain(a).text.strip() for a in answers)])
    return AnswerScorer(embedder)


def _held_out(competency: Competency, answer: str) -> Competency:
    exemplars = competency.exemplars.model_copy(
        update={
            "strong": competency.exemplars.strong.without(answer),
            "weak": competency.exemplars.weak.without(answer),
        }
    )
    return competency.model_copy(update={"exemplars": exemplars})


def test_strong_exemplars_beat_weak_ones_held_out_for_every_model_and_language(
    library: CompetencyModelLibrary, scorer: AnswerScorer
) -> None:
    failures = []
    checked = 0
    for model in library:
        for competency in model.competencies:
            for lang in ("en", "zh"):
                scores = {}
                for kind in ("strong", "weak"):
                    answer = getattr(competency.exemplars, kind).get(lang)[0]
                    result = scorer.score(
                        TimedText.from_plain(answer), lang, [_held_out(competency, answer)], model.scoring
                    )[0]
                    scores[kind] = result
                checked += 1
                strong, weak = scores["strong"], scores["weak"]
                if not (
                    strong.score >= weak.score + MIN_MARGIN and strong.semantic_similarity > weak.semantic_similarity
                ):
                    failures.append((model.id, competency.id, lang, strong.score, weak.score))
    assert checked == sum(2 * len(m.competencies) for m in library) >= 24
    assert not failures, failures


def test_keywords_match_whole_words_in_both_languages() -> None:
    en = TimedText.from_plain("We rolled back the deploy and checked the logs. Catalogs are fine.")
    measure, matched = keyword_coverage(en, ["rolled back", "logs", "postmortem"])
    assert matched == ["rolled back", "logs"]
    assert measure.value == pytest.approx(2 / 3)
    _, matched = keyword_coverage(en, ["log", "talog"])
    assert matched == ["log"]  # a word start matches (logs), the inside of a word does not (Catalogs)
    zh = TimedText.from_plain("我们先回滚了发布，然后写了复盘报告。")
    _, matched = keyword_coverage(zh, ["回滚", "复盘", "报", "故障"])
    assert matched == ["回滚", "复盘"]  # 报 is only part of the word 报告


def test_star_structure_specificity_and_hedging_come_with_timed_quotes() -> None:
    strong = TimedText.from_plain(
        "Last year our checkout was slow. My goal was to halve the latency. "
        "I added tracing and cached queries in Redis. As a result latency dropped by forty percent."
    )
    measure, parts = star_structure(strong, "en")
    assert parts == ["situation", "task", "action", "result"] and measure.value == 1.0
    assert [q.text.split()[0] for q in measure.quotes] == ["Last", "My", "I", "As"]
    assert all(q.start_s < q.end_s for q in measure.quotes)
    assert measure.quotes[1].start_s > measure.quotes[0].end_s  # in spoken order, on the timeline
    assert specificity(strong, "en").value > 0.8
    assert hedging(strong, "en").value == 0.0

    vague = TimedText.from_plain("I guess it went fine. Maybe somebody fixed it. It was good.")
    assert star_structure(vague, "en")[0].value == 0.0
    assert specificity(vague, "en").value == 0.0
    hedged = hedging(vague, "en")
    assert hedged.value == pytest.approx(2 / 3)
    assert [q.text for q in hedged.quotes] == ["I guess it went fine.", "Maybe somebody fixed it."]

    zh = TimedText.from_plain("去年我们的接口很慢，这件事由我负责。我先加了链路追踪。最终延迟降低了百分之四十。")
    assert star_structure(zh, "zh")[1] == ["situation", "task", "action", "result"]
    assert hedging(TimedText.from_plain("我觉得可能还行吧。"), "zh").value == 1.0


def test_quotes_carry_the_media_time_of_the_words() -> None:
    words = [TimedWord(" I", 10.0, 10.2), TimedWord(" guess", 10.2, 10.6), TimedWord(" so.", 10.6, 11.0)]
    words += [TimedWord(" We", 12.0, 12.2), TimedWord(" shipped.", 12.2, 12.9)]
    quote = hedging(TimedText(words), "en").quotes[0]
    assert (quote.text, quote.start_s, quote.end_s) == ("I guess so.", 10.0, 11.0)


def test_semantic_similarity_is_calibrated_between_exemplar_groups() -> None:
    import numpy as np

    strong = np.array([[1.0, 0.0, 0.0]], dtype=np.float32)
    weak = np.array([[0.8, 0.6, 0.0]], dtype=np.float32)
    near_strong = np.array([0.99, 0.14, 0.0], dtype=np.float32)
    near_weak = np.array([0.75, 0.66, 0.0], dtype=np.float32)
    assert semantic_similarity(near_strong / np.linalg.norm(near_strong), [(strong, weak)]) > 0.9
    assert semantic_similarity(near_weak / np.linalg.norm(near_weak), [(strong, weak)]) < 0.1
    assert semantic_similarity(near_strong, [(strong, np.zeros((0, 3), dtype=np.float32))]) == 0.5


def test_scores_use_the_model_weights(library: CompetencyModelLibrary, scorer: AnswerScorer) -> None:
    competency = library.get("sales", "1.0").competency("negotiation")
    answer = TimedText.from_plain(competency.exemplars.strong.en[0])
    only_structure = ScoringWeights(keywords=0, semantic=0, structure=1, specificity=0, confidence=0)
    result = scorer.score(answer, "en", [competency], only_structure)[0]
    assert result.score == pytest.approx(100 * result.structure.value)
    assert scorer.score(TimedText([]), "en", [competency], only_structure) == []
