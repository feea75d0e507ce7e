"""TLS to the object store and to Kafka with a self-signed CA drawn for the test.

* S3: the local stack's gateway (JuiceFS, MinIO's gateway code) serves HTTPS natively from
  ``$HOME/.minio/certs``; Sightline's object store client verifies it against ``SIGHTLINE_S3__CA_FILE``.
* Kafka: the local broker (tansu 0.6.0) cannot serve TLS — its command line declares ``--cert`` and ``--key``
  mutually exclusive, and with ``--cert`` alone (key in the same PEM or not, ``tcp://`` or ``tls://``
  listener) it accepts the connection and never answers a TLS ClientHello. So TLS is terminated by a small
  proxy in front of it, which the broker advertises as its address: every byte between Sightline's clients
  and the broker's address travels over TLS verified against ``SIGHTLINE_KAFKA__SSL_CAFILE``.
* ClickHouse: there is no ClickHouse server in the local stack; chDB runs inside its owner process, and every
  other process (the command line, the console) reaches it through the owner's endpoint. That endpoint serves
  HTTPS with ``SIGHTLINE_CLICKHOUSE__OWNER_CERT_FILE`` and ``__OWNER_KEY_FILE``, and its clients verify it
  against ``SIGHTLINE_CLICKHOUSE__CA_FILE``, the setting that verifies an https:// ClickHouse server (passed to
  clickhouse-connect as its CA; a server is not exercised here).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import io
import json
import os
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from services.common.chdb_owner import OwnerRecord, OwnerUnavailable, RemoteWarehouse, open_warehouse, read_owner
from services.common.kafka import create_consumer, create_producer, ensure_topics, ssl_context
from services.common.objectstore import ObjectStore
from services.common.settings import ClickHouseSettings, KafkaSettings, S3Settings, WorkerSettings
from services.common.stack import find_juicefs, find_tansu, free_loopback_ports, probe_kafka
from services.status import PROGRESS
from tests.identities import identity_env, token_of
from tests.integration.test_identity import seed_statuses, serving
from tests.tls_certs import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _wait_for(done: object, what: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():  # type: ignore[operator]
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{what} did not start:\n{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def tls_gateway(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[S3Settings]:
    """A JuiceFS S3 gateway of its own serving HTTPS with the test CA's certificate."""
    home = tmp_path_factory.mktemp("s3-tls")
    certs = home / ".minio" / "certs"
    certs.mkdir(parents=True)
    (certs / "public.crt").write_bytes(pki.cert.read_bytes())
    (certs / "private.key").write_bytes(pki.key.read_bytes())
    juicefs, meta, log = str(find_juicefs()), f"sqlite3://{home / 'meta.db'}", home / "gateway.log"
    subprocess.run(
        [juicefs, "--no-agent", "format", "--storage", "file", "--bucket", f"{home / 'blobs'}/", "--trash-days", "0",
         meta, "tls-test"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    (port,) = free_loopback_ports(1)
    settings = S3Settings(endpoint=f"127.0.0.1:{port}", secure=True, ca_file=str(pki.ca), secret_key="tls-test-secret")  # type: ignore[arg-type]
    env = {**os.environ, "HOME": str(home), "MINIO_ROOT_USER": settings.access_key,
           "MINIO_ROOT_PASSWORD": settings.secret_key.get_secret_value()}  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [juicefs, "--no-agent", "gateway", meta, f"127.0.0.1:{port}", "--multi-buckets", "--no-usage-report",
             "--no-banner", "--cache-dir", str(home / "cache"), "--metrics", "127.0.0.1:0", "--backup-meta", "0"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def answers() -> bool:
        with contextlib.suppress(Exception):
            ObjectStore(settings).client.list_buckets()
            return True
        return False

    _wait_for(answers, "the TLS S3 gateway", proc, log)
    yield settings
    _stop(proc)


def test_the_object_store_speaks_tls_verified_by_the_configured_ca(tls_gateway: S3Settings) -> None:
    store = ObjectStore(tls_gateway)
    store.ensure_bucket("tls-bucket")
    key = f"t/{uuid.uuid4()}"
    store.client.put_object("tls-bucket", key, io.BytesIO(b"over tls"), 8)
    assert store.get_bytes("tls-bucket", key) == b"over tls"
    # Without the CA (the system's trust store only) the same endpoint is refused: the certificate is checked.
    untrusted = ObjectStore(tls_gateway.model_copy(update={"ca_file": None}))
    with pytest.raises(Exception, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        untrusted.client.list_buckets()
    # And it is TLS on the wire: plain HTTP to the port gets no S3 answer.
    plain = ObjectStore(tls_gateway.model_copy(update={"secure": False}))
    with pytest.raises(Exception):  # noqa: B017 - any failure: what matters is that plain HTTP is not served
        plain.client.list_buckets()


# ---- Kafka ----------------------------------------------------------------------------------------------------------


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


@contextlib.asynccontextmanager
async def tls_terminator(
    pki: Pki, listen_port: int, upstream_port: int, *, client_certificates: list[str] | None = None
) -> AsyncIterator[list[int]]:
    """TLS on ``listen_port``, plaintext to the broker on ``upstream_port``; yields the count of TLS sessions.
    With ``client_certificates`` (a list it fills with the clients' common names), clients must present a
    certificate of the test CA (mutual TLS, as a broker with ``ssl.client.auth=required``)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.cert, pki.key)
    if client_certificates is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(pki.ca)
    sessions = [0]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sessions[0] += 1
        if client_certificates is not None:
            peer = writer.get_extra_info("peercert")
            client_certificates.append(dict(field[0] for field in peer["subject"])["commonName"])
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port, ssl=context)
    try:
        yield sessions
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture(scope="module")
def plain_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    """A tansu broker listening in plaintext on one port and advertising the TLS terminator's port."""
    broker_port, tls_port = free_loopback_ports(2)
    log = tmp_path_factory.mktemp("kafka-tls") / "tansu.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(find_tansu()), "broker", "--listener-url", f"tcp://127.0.0.1:{broker_port}",
             "--advertised-listener-url", f"tcp://127.0.0.1:{tls_port}", "--storage-engine", "memory://tansu/"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    _wait_for(lambda: probe_kafka(broker_port)[0] or _listening(broker_port), "the broker", proc, log)
    yield broker_port, tls_port
    _stop(proc)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def _round_trip(kafka: KafkaSettings, topic: str) -> list[bytes]:
    """Create the topic, produce one record and consume it back through the settings' connection."""
    await ensure_topics(kafka, [(topic, 1)])
    producer = create_producer(kafka, "tls-test")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"over tls", key=b"k")
    finally:
        await producer.stop()
    consumer = create_consumer(kafka, WorkerSettings(auto_offset_reset="earliest"), f"g-{topic}", "tls-test")
    await consumer.start()
    try:
        consumer.subscribe([topic])
        batch = await consumer.getmany(timeout_ms=15_000)
        while not batch:
            batch = await consumer.getmany(timeout_ms=15_000)
    finally:
        await consumer.stop()
    return [m.value for records in batch.values() for m in records]


async def test_kafka_clients_speak_tls_verified_by_the_configured_ca(pki: Pki, plain_broker: tuple[int, int]) -> None:
    broker_port, tls_port = plain_broker
    kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{tls_port}", security_protocol="SSL", ssl_cafile=str(pki.ca))
    topic = f"tls-{uuid.uuid4().hex[:8]}"
    async with tls_terminator(pki, tls_port, broker_port) as sessions:
        assert await _round_trip(kafka, topic) == [b"over tls"]
        assert sessions[0] >= 2  # bootstrap and broker connections all came through TLS
        # A client that trusts only the system's CAs is refused at the handshake: the chain is verified.
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.open_connection("127.0.0.1", tls_port, ssl=ssl.create_default_context())


async def test_kafka_clients_present_their_certificate_for_mutual_tls(pki: Pki, plain_broker: tuple[int, int]) -> None:
    """SSL_CERTFILE/SSL_KEYFILE (a Strimzi KafkaUser's user.crt and user.key in the chart): the brokers' side
    requires a client certificate of its CA and sees the client's name in it."""
    broker_port, tls_port = plain_broker
    kafka = KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{tls_port}",
        security_protocol="SSL",
        ssl_cafile=str(pki.ca),
        ssl_certfile=str(pki.client_cert),
        ssl_keyfile=str(pki.client_key),
    )
    clients: list[str] = []
    async with tls_terminator(pki, tls_port, broker_port, client_certificates=clients):
        assert await _round_trip(kafka, f"mtls-{uuid.uuid4().hex[:8]}") == [b"over tls"]
        assert clients and set(clients) == {"sightline-client"}
        # Without the certificate the broker side refuses the handshake: it really asks for one.
        anonymous = ssl_context(kafka.model_copy(update={"ssl_certfile": None, "ssl_keyfile": None}))
        assert anonymous is not None
        accepted = len(clients)
        reader, writer = await asyncio.open_connection("127.0.0.1", tls_port, ssl=anonymous)
        # TLS 1.3: the client's side of the handshake ends first; the server's refusal closes the connection.
        assert await asyncio.wait_for(reader.read(1), 10) == b""
        writer.close()
        assert len(clients) == accepted  # never got past the broker side's handshake
        assert set(clients) == {"sightline-client"}


# ---- the embedded database's owner ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_owner(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[str]:
    """`sightline db serve` owning a seeded directory, its endpoint serving HTTPS with the test CA's certificate."""
    dsn = f"chdb://{tmp_path_factory.mktemp('owner-tls') / 'ch'}"
    seed_statuses(dsn)
    with serving(
        dsn, SIGHTLINE_CLICKHOUSE__OWNER_CERT_FILE=str(pki.cert), SIGHTLINE_CLICKHOUSE__OWNER_KEY_FILE=str(pki.key)
    ):
        yield dsn


def _interviews(reader: RemoteWarehouse) -> list[str]:
    columns, rows = reader.named(PROGRESS, {"interview": "", "limit": 10})
    return sorted({row[columns.index("interview_id")] for row in rows})


def test_the_embedded_databases_owner_speaks_tls_verified_by_the_configured_ca(tls_owner: str, pki: Pki) -> None:
    record = read_owner(tls_owner)
    assert record is not None and record.url.startswith("https://127.0.0.1:")  # no client is offered plain HTTP
    trusted = open_warehouse(ClickHouseSettings(dsn=tls_owner, ca_file=str(pki.ca)), token=token_of("acme-analyst"))
    assert isinstance(trusted, RemoteWarehouse) and _interviews(trusted) == ["iv-a"]
    # Without the CA the system's trust store does not know the certificate: nothing is sent.
    untrusted = open_warehouse(ClickHouseSettings(dsn=tls_owner), token=token_of("acme-analyst"))
    assert isinstance(untrusted, RemoteWarehouse)
    with pytest.raises(OwnerUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
        _interviews(untrusted)
    # Plain HTTP to the endpoint gets no answer.
    plain = RemoteWarehouse(OwnerRecord(record.pid, record.url.replace("https://", "http://")), "sightline",
                            token=token_of("acme-analyst"))  # fmt: skip
    with pytest.raises((OwnerUnavailable, http.client.HTTPException)):
        _interviews(plain)

    # The command line verifies the owner against SIGHTLINE_CLICKHOUSE__CA_FILE.
    env = {**os.environ, "SIGHTLINE_CLICKHOUSE__DSN": tls_owner, **identity_env("acme-analyst")}
    command = [sys.executable, "-m", "services.cli", "status", "--format", "json"]
    done = subprocess.run(command, env={**env, "SIGHTLINE_CLICKHOUSE__CA_FILE": str(pki.ca)}, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and [json.loads(line)["interview_id"] for line in done.stdout.splitlines()] == ["iv-a"]
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 3 and "CERTIFICATE_VERIFY_FAILED" in refused.stderr, refused.stderr
