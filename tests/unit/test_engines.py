"""Which engine runs a stage."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from services.common.contracts import EventBase, StageName
from services.common.engines import create_worker, engine_for
from services.common.faust_worker import FaustStageWorker
from services.common.handler import MessageMeta
from services.common.settings import KafkaSettings, Settings, WorkerSettings
from services.common.worker import StageWorker


class Plain:
    stage = StageName.INGEST
    input_topics: Sequence[str] = ()

    async def handle(self, event: EventBase, meta: MessageMeta) -> Sequence[EventBase]:
        return []


class OnFaust(Plain):
    engine = "faust"


class Buffered(Plain):
    async def flush(self) -> None:
        return None


def settings(engine: str = "auto") -> Settings:
    return Settings(worker=WorkerSettings(engine=engine))


def test_a_stage_runs_on_its_own_engine_unless_the_setting_says_otherwise() -> None:
    assert engine_for(Plain(), settings()) == "loop"
    assert engine_for(OnFaust(), settings()) == "faust"
    assert engine_for(OnFaust(), settings("loop")) == "loop"
    assert engine_for(Plain(), settings("faust")) == "faust"
    assert isinstance(create_worker(OnFaust(), settings()), FaustStageWorker)
    assert isinstance(create_worker(OnFaust(), settings("loop")), StageWorker)


def test_fusion_chooses_faust_and_the_sink_cannot_run_there() -> None:
    from services.fusion.stage import FusionStage
    from services.sink.stage import SinkStage

    assert engine_for(FusionStage(settings()), settings()) == "faust"
    assert engine_for(SinkStage(settings()), settings()) == "loop"
    with pytest.raises(ValueError, match="loop engine"):
        create_worker(Buffered(), settings("faust"))


@pytest.mark.parametrize(
    "kafka",
    [
        {},
        {"security_protocol": "SSL"},
        {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "u",
            "sasl_password": "p",
        },
        {"security_protocol": "SASL_SSL", "sasl_username": "u", "sasl_password": "p"},
    ],
)
def test_the_faust_engine_connects_as_the_loop_does(kafka: dict[str, str]) -> None:
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    from services.common.faust_worker import faust_app
    from services.common.kafka import connection_kwargs
    from services.common.settings import KafkaSettings

    settings = Settings(kafka=KafkaSettings(**kafka))  # type: ignore[arg-type]
    loop = connection_kwargs(settings.kafka, "x")
    app = faust_app(settings, "g-connect")
    faust_side = credentials_to_aiokafka_auth(app.conf.broker_credentials)
    for key in ("security_protocol", "sasl_mechanism", "sasl_plain_username", "sasl_plain_password"):
        assert faust_side.get(key) == loop.get(key), key
    assert (faust_side.get("ssl_context") is None) == (loop.get("ssl_context") is None)
    assert [str(url) for url in app.conf.broker] == [f"kafka://{settings.kafka.bootstrap_servers}"]
    assert app.conf.broker_session_timeout == settings.kafka.session_timeout_ms / 1000


def test_vision_handles_as_many_chunks_at_once_as_its_own_setting_says() -> None:
    from services.common.objectstore import ObjectStore
    from services.vision.settings import VisionSettings
    from services.vision.stage import VisionStage

    base = Settings(worker=WorkerSettings(max_in_flight=4), vision=VisionSettings(max_in_flight=8))
    stage = VisionStage(ObjectStore(base.s3), "work", base.vision)  # nothing is loaded or contacted yet
    assert create_worker(stage, base).max_in_flight == 8
    assert create_worker(Plain(), base).max_in_flight == 4  # the other stages keep the worker's


def test_consumer_groups_carry_the_topic_prefix() -> None:
    """Two environments sharing a cluster (prefixes `staging.` and `prod.`) never share a consumer group."""
    assert create_worker(Plain(), settings()).group_id == "sightline-ingest"
    for prefix in ("staging.", "prod."):
        prefixed = Settings(kafka=KafkaSettings(topic_prefix=prefix))
        assert create_worker(Plain(), prefixed).group_id == f"{prefix}sightline-ingest"
        assert create_worker(Plain(), prefixed, group_id="sightline-sink-status").group_id == (
            f"{prefix}sightline-sink-status"
        )
        on_faust = create_worker(OnFaust(), prefixed)
        assert isinstance(on_faust, FaustStageWorker) and on_faust.group_id == f"{prefix}sightline-ingest"
