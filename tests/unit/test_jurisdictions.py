"""The jurisdiction rule sets: what each law asks, and how the rule sets applying to an interview combine."""

from __future__ import annotations

import pytest

from services.common.jurisdictions import DEFAULT_RULES, JurisdictionRules, combine, rule_keys, rules_for


def test_illinois_asks_notice_a_separate_biometric_consent_deletion_within_30_days_and_no_sharing() -> None:
    rules = rules_for("US-IL")
    assert rules.keys == ("*", "US-IL")
    assert rules.notice_required and not rules.sharing_allowed
    assert rules.deletion_deadline_days == 30
    assert rules.max_retention_days == 3 * 365
    assert rules.required_scopes("face_analysis") == {"biometric_processing"}
    assert rules.prohibited_scopes == frozenset()
    assert any("820 ILCS 42" in b for b in rules.basis) and any("740 ILCS 14" in b for b in rules.basis)


def test_new_york_city_asks_notice_ten_business_days_ahead_and_a_bias_audit() -> None:
    rules = rules_for("US-NYC")
    assert rules.notice_required and rules.notice_lead_business_days == 10
    assert rules.bias_audit_required
    assert rules.required_scopes("face_analysis") == frozenset()  # LL144 asks no separate face consent
    assert not rules_for("US-NY").bias_audit_required  # the state is not the city


@pytest.mark.parametrize("jurisdiction", ["CN", "CN-SH"])
def test_china_asks_a_separate_consent_for_face_data(jurisdiction: str) -> None:
    rules = rules_for(jurisdiction)
    assert rules.required_scopes("face_analysis") == {"biometric_processing"}
    assert rules.required_scopes("video_analysis") == frozenset()
    assert rules.notice_required and not rules.sharing_allowed and rules.human_review_required
    assert rules.deletion_deadline_days == 15


@pytest.mark.parametrize("jurisdiction", ["EU", "DE", "DE-BY", "IE", "FR"])
def test_the_eu_forbids_emotion_inference_and_asks_human_oversight_and_kept_logs(jurisdiction: str) -> None:
    rules = rules_for(jurisdiction)
    assert rules.prohibited_scopes == {"emotion_inference"}
    assert rules.human_review_required and rules.notice_required
    assert rules.min_log_retention_days == 183
    assert rules.deletion_deadline_days == 30
    assert "EU" in rules.keys


@pytest.mark.parametrize("jurisdiction", ["GB", "US", "US-CA", "JP"])
def test_elsewhere_only_the_baseline_applies(jurisdiction: str) -> None:
    rules = rules_for(jurisdiction)
    assert rules.keys == ("*",)
    assert rules.prohibited_scopes == frozenset() and not rules.separate_consent
    assert rules.deletion_deadline_days == 30 and rules.max_retention_days is None
    assert rules.sharing_allowed and not rules.notice_required


def test_rule_keys_run_from_broadest_to_most_specific() -> None:
    assert rule_keys("DE-BY") == ["*", "EU", "DE", "DE-BY"]
    assert rule_keys("US-IL") == ["*", "US", "US-IL"]
    assert rule_keys("CN") == ["*", "CN"]


def test_combining_keeps_the_strictest_value_of_every_rule() -> None:
    lax = JurisdictionRules(keys=("a",), deletion_deadline_days=60, max_retention_days=None, min_log_retention_days=30)
    strict = JurisdictionRules(
        keys=("b",),
        prohibited_scopes=frozenset({"transcription"}),
        deletion_deadline_days=10,
        max_retention_days=90,
        min_log_retention_days=365,
        sharing_allowed=False,
        human_review_required=True,
        notice_required=True,
        notice_lead_business_days=5,
    )
    for merged in (combine(lax, strict), combine(strict, lax)):
        assert merged.prohibited_scopes == {"transcription"}
        assert merged.deletion_deadline_days == 10 and merged.max_retention_days == 90
        assert merged.min_log_retention_days == 365  # logs: the longest minimum
        assert not merged.sharing_allowed and merged.human_review_required and merged.notice_required
        assert merged.notice_lead_business_days == 5


def test_a_more_specific_rule_set_cannot_lift_a_broader_prohibition() -> None:
    table = {**DEFAULT_RULES, "DE": JurisdictionRules(keys=("DE",), prohibited_scopes=frozenset())}
    assert "emotion_inference" in rules_for("DE", table).prohibited_scopes


def test_two_rule_sets_asking_different_separate_consents_for_one_scope_are_refused() -> None:
    a = JurisdictionRules(separate_consent={"face_analysis": "biometric_processing"})
    b = JurisdictionRules(separate_consent={"face_analysis": "automated_scoring"})
    with pytest.raises(ValueError, match="face_analysis"):
        combine(a, b)
