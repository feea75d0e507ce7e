"""What the law asks of an interview, per jurisdiction: the rule sets every stage and the erasure job read.

Each rule set names the law it encodes. `rules_for(jurisdiction)` combines every rule set that applies to a
jurisdiction — everywhere (``"*"``), the EU when it is a member state or a subdivision of one, the country
(``"US"``), the jurisdiction itself (``"US-IL"``) — keeping the strictest value of each rule, so a more
specific rule set can add duties but never lift broader ones.

Jurisdictions are ISO 3166-1 countries or ISO 3166-2 subdivisions; ISO has no code for a city, so Sightline uses
``US-NYC`` for New York City (Local Law 144).

This is a legal summary kept as configuration, not legal advice: a tenant's counsel reviews it, and a change to
it is a change of the policy version (`services.ingest.policy.DEFAULT_POLICY_VERSION`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from services.common.contracts.types import ConsentScope, is_eu_jurisdiction, jurisdiction_country

EVERYWHERE = "*"
EU = "EU"

_FACE = ConsentScope.FACE_ANALYSIS.value
_BIOMETRIC = ConsentScope.BIOMETRIC_PROCESSING.value
_EMOTION = ConsentScope.EMOTION_INFERENCE.value


@dataclass(frozen=True)
class JurisdictionRules:
    """The duties of one jurisdiction (or, from `rules_for`, of every rule set applying to an interview)."""

    #: The rule sets combined here, broadest first ("*", "EU", "DE").
    keys: tuple[str, ...] = ()
    #: The laws these rules come from, for documents and audit reports.
    basis: tuple[str, ...] = ()
    #: Consent scopes never performed, whatever the consent says.
    prohibited_scopes: frozenset[str] = frozenset()
    #: Scope → a further consent scope it needs: a separate consent the law asks for (PIPL art. 29, BIPA § 15(b)).
    separate_consent: Mapping[str, str] = field(default_factory=dict)
    #: The candidate must be told, before the interview, that an automated tool assesses it and how.
    notice_required: bool = False
    #: Business days the notice must precede the interview (NYC Local Law 144: 10).
    notice_lead_business_days: int = 0
    #: Days after a candidate's erasure request by which everything about them must be gone.
    deletion_deadline_days: int = 30
    #: Longest an interview may be kept without a request (None: no statutory cap; the tenant's retention applies).
    max_retention_days: int | None = None
    #: Shortest time access and processing logs must be kept (None: no statutory minimum).
    min_log_retention_days: int | None = None
    #: Recordings and results may be shared beyond the people who evaluate the candidate.
    sharing_allowed: bool = True
    #: A person must oversee the automated assessment before it affects the candidate.
    human_review_required: bool = False
    #: An independent bias audit, less than a year old, must be on record before the tool is used.
    bias_audit_required: bool = False

    def required_scopes(self, scope: str) -> frozenset[str]:
        """The further consent scopes `scope` needs here (empty when its own consent is enough)."""
        extra = self.separate_consent.get(scope)
        return frozenset({extra}) if extra else frozenset()


def _min_optional(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _max_optional(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def combine(a: JurisdictionRules, b: JurisdictionRules) -> JurisdictionRules:
    """The strictest of two rule sets, rule by rule."""
    clash = sorted(k for k in a.separate_consent.keys() & b.separate_consent.keys()
                   if a.separate_consent[k] != b.separate_consent[k])  # fmt: skip
    if clash:
        raise ValueError(f"two rule sets ask for different separate consents for {', '.join(clash)}")
    return JurisdictionRules(
        keys=a.keys + b.keys,
        basis=a.basis + tuple(x for x in b.basis if x not in a.basis),
        prohibited_scopes=a.prohibited_scopes | b.prohibited_scopes,
        separate_consent={**a.separate_consent, **b.separate_consent},
        notice_required=a.notice_required or b.notice_required,
        notice_lead_business_days=max(a.notice_lead_business_days, b.notice_lead_business_days),
        deletion_deadline_days=min(a.deletion_deadline_days, b.deletion_deadline_days),
        max_retention_days=_min_optional(a.max_retention_days, b.max_retention_days),
        min_log_retention_days=_max_optional(a.min_log_retention_days, b.min_log_retention_days),
        sharing_allowed=a.sharing_allowed and b.sharing_allowed,
        human_review_required=a.human_review_required or b.human_review_required,
        bias_audit_required=a.bias_audit_required or b.bias_audit_required,
    )


#: The rule sets Sightline ships. Keys: "*", "EU", a country ("CN") or a jurisdiction ("US-IL", "US-NYC").
DEFAULT_RULES: Mapping[str, JurisdictionRules] = {
    # Baseline: an erasure request is honoured within 30 days everywhere, the shortest deadline below
    # being stricter where it applies.
    EVERYWHERE: JurisdictionRules(keys=(EVERYWHERE,)),
    EU: JurisdictionRules(
        keys=(EU,),
        basis=(
            "EU AI Act (Regulation 2024/1689) art. 5(1)(f), 14, 26",
            "GDPR (Regulation 2016/679) art. 12(3), 13, 17, 22",
        ),
        prohibited_scopes=frozenset({_EMOTION}),  # AI Act art. 5(1)(f): no emotion recognition at work
        notice_required=True,  # GDPR art. 13, AI Act art. 26(11)
        deletion_deadline_days=30,  # GDPR art. 12(3): one month
        min_log_retention_days=183,  # AI Act art. 26(6): logs kept at least six months
        human_review_required=True,  # AI Act art. 14 and 26(2), GDPR art. 22
    ),
    "US-IL": JurisdictionRules(
        keys=("US-IL",),
        basis=(
            "Artificial Intelligence Video Interview Act (820 ILCS 42)",
            "Biometric Information Privacy Act (740 ILCS 14)",
        ),
        separate_consent={_FACE: _BIOMETRIC},  # BIPA § 15(b): a written release for face geometry
        notice_required=True,  # AIVI § 5: notice and consent before the interview
        deletion_deadline_days=30,  # AIVI § 15: within 30 days of the candidate's request
        max_retention_days=3 * 365,  # BIPA § 15(a): destroyed within 3 years of the last interaction
        sharing_allowed=False,  # AIVI § 10: shared only with those whose expertise evaluates the candidate
    ),
    "US-NYC": JurisdictionRules(
        keys=("US-NYC",),
        basis=("NYC Local Law 144 of 2021 (Admin. Code § 20-870 ff.), 6 RCNY § 5-300 ff.",),
        notice_required=True,  # § 20-871(b): notice 10 business days before use
        notice_lead_business_days=10,
        bias_audit_required=True,  # § 20-871(a): bias audit within one year before use, summary published
    ),
    "CN": JurisdictionRules(
        keys=("CN",),
        basis=("Personal Information Protection Law (PIPL) art. 13, 14, 17, 23, 28, 29, 47",),
        separate_consent={_FACE: _BIOMETRIC},  # art. 28-29: face data is sensitive, needs separate consent
        notice_required=True,  # art. 17, 30
        deletion_deadline_days=15,  # art. 47, 50; GB/T 35273-2020 § 8.7: within 15 (working) days
        sharing_allowed=False,  # art. 23: sharing needs its own separate consent, which Sightline does not collect
        human_review_required=True,  # art. 24: the candidate may refuse a decision made solely by automation
    ),
}


def rule_keys(jurisdiction: str) -> list[str]:
    """The keys of the rule sets that apply to `jurisdiction`, broadest first."""
    keys = [EVERYWHERE]
    if is_eu_jurisdiction(jurisdiction):
        keys.append(EU)
    country = jurisdiction_country(jurisdiction)
    keys.append(country)
    if jurisdiction != country:
        keys.append(jurisdiction)
    return keys


def rules_for(jurisdiction: str, table: Mapping[str, JurisdictionRules] = DEFAULT_RULES) -> JurisdictionRules:
    """Every rule set of `table` that applies to `jurisdiction`, combined (strictest wins)."""
    found = [table[k] for k in rule_keys(jurisdiction) if k in table]
    result = JurisdictionRules()
    for rules in found:
        result = combine(result, rules)
    return replace(result, keys=tuple(k for r in found for k in r.keys))


def with_prohibitions(
    table: Mapping[str, JurisdictionRules], prohibited: Mapping[str, Iterable[str]]
) -> dict[str, JurisdictionRules]:
    """`table` with more prohibited scopes (a deployment's own table): prohibitions are added, never lifted."""
    out = dict(table)
    for key, scopes in prohibited.items():
        base = out.get(key, JurisdictionRules(keys=(key,)))
        out[key] = replace(base, prohibited_scopes=base.prohibited_scopes | frozenset(scopes))
    return out


__all__ = [
    "DEFAULT_RULES",
    "EU",
    "EVERYWHERE",
    "JurisdictionRules",
    "combine",
    "rule_keys",
    "rules_for",
    "with_prohibitions",
]
