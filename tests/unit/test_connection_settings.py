"""Connection settings that must come in pairs or from the pod's identity are refused with the reason when half-set."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.common.kafka import ssl_context
from services.common.settings import ClickHouseSettings, KafkaSettings, S3Settings


@pytest.mark.parametrize("half", [{"ssl_certfile": "/etc/tls/user.crt"}, {"ssl_keyfile": "/etc/tls/user.key"}])
def test_a_client_certificate_needs_its_key(half: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="ssl_certfile and ssl_keyfile go together"):
        KafkaSettings(security_protocol="SSL", **half)  # type: ignore[arg-type]


@pytest.mark.parametrize("half", [{"owner_cert_file": "/etc/tls/owner.crt"}, {"owner_key_file": "/etc/tls/owner.key"}])
def test_the_owner_endpoints_certificate_needs_its_key(half: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match=r"owner_cert_file and clickhouse\.owner_key_file go together"):
        ClickHouseSettings(**half)  # type: ignore[arg-type]


def test_plaintext_and_sasl_without_tls_build_no_tls_context() -> None:
    assert ssl_context(KafkaSettings(security_protocol="PLAINTEXT")) is None
    assert ssl_context(KafkaSettings(security_protocol="SASL_PLAINTEXT")) is None
    assert ssl_context(KafkaSettings(security_protocol="SASL_SSL")) is not None


def test_s3_credentials_are_keys_unless_the_pods_identity_is_asked_for() -> None:
    assert S3Settings().credentials == "keys"
    with pytest.raises(ValidationError):
        S3Settings(credentials="iam")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        S3Settings(lifecycle_days=400)  # longer than any retention: never a backstop
