"""The Helm chart, rendered by a real Helm engine (`.local/bin/helm`, installed by `make setup`).

Every manifest of every value set validates strictly against the Kubernetes 1.35 API schemas
(kubernetes-validate); the custom resources (KEDA, Prometheus Operator) against the schemas in
deploy/helm/crd-schemas. Behaviour is checked against the code it deploys: the settings the services
read, the topic registry, the worker's command line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from services.cli import cli
from services.common.contracts import TOPICS
from services.common.engines import create_worker
from services.common.settings import Settings, iter_env_vars
from services.ingest.stage import sources_from

ROOT = Path(__file__).resolve().parents[2]
HELM = ROOT / ".local" / "bin" / "helm"
CHART = ROOT / "deploy" / "helm" / "sightline"
CRD_SCHEMAS = ROOT / "deploy" / "helm" / "crd-schemas"
KUBERNETES_VERSION = "1.35.0"
STAGES = ("ingest", "frames", "vision", "speech", "fusion", "sink")
# Kinds outside the built-in API, validated against our own schemas instead of kubernetes-validate's.
CUSTOM_KINDS = {
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("keda.sh/v1alpha1", "TriggerAuthentication"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"),
    ("kafka.strimzi.io/v1beta2", "KafkaUser"),
    ("clickhouse.altinity.com/v1", "ClickHouseInstallation"),
}
# Variables the chart sets that are not settings: read by the contracts loader and the topics Job.
NON_SETTING_VARS = {"SIGHTLINE_SCHEMAS_DIR", "SIGHTLINE_TOPIC_PARTITIONS"}

REQUIRED: dict[str, Any] = {
    "kafka": {"bootstrapServers": "kafka-0.kafka:9092,kafka-1.kafka:9092"},
    "s3": {"endpoint": "minio.storage:9000", "auth": {"accessKey": "sightline", "secretKey": "s3-secret"}},
    "clickhouse": {"dsn": "http://sightline:ch-secret@clickhouse.db:8123"},
}
EXISTING_SECRETS: dict[str, Any] = {
    "kafka": {
        "bootstrapServers": "kafka:9093",
        "securityProtocol": "SASL_SSL",
        "caSecret": "kafka-ca",
        "auth": {"existingSecret": "kafka-creds", "usernameKey": "user", "passwordKey": "pass"},
    },
    "s3": {"endpoint": "s3.eu-west-1.amazonaws.com", "auth": {"existingSecret": "s3-creds"}},
    "clickhouse": {"existingSecret": "ch-creds", "dsnKey": "url"},
}
DIGEST = "sha256:" + "ab" * 32
CUDA_DIGEST = "sha256:" + "cd" * 32
#: The places where charts are customarily extended, all used at once.
EXTENSIONS: dict[str, Any] = {
    "image": {"digest": DIGEST, "cudaDigest": CUDA_DIGEST},
    "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/sightline"}},
    "priorityClassName": "sightline-batch",
    "topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"}
    ],
    "envFrom": [{"configMapRef": {"name": "sightline-tuning"}}],
    "extraVolumes": [{"name": "corp-ca", "configMap": {"name": "corp-ca-bundle"}}],
    "extraVolumeMounts": [{"name": "corp-ca", "mountPath": "/etc/ssl/corp", "readOnly": True}],
    "gpu": {"runtimeClassName": "nvidia"},
    "services": {
        "vision": {"priorityClassName": "sightline-gpu"},
        "sink": {"strategy": {"type": "Recreate"}},
    },
}
CONSOLE_ON: dict[str, Any] = {
    "console": {
        "enabled": True,
        "users": {"existingSecret": "console-users"},
        "sessionSecret": {"existingSecret": "console-session", "key": "key"},
        "allowFrom": [{"namespaceSelector": {"matchLabels": {"name": "ingress"}}}],
    }
}
IDENTITIES_ON: dict[str, Any] = {"identity": {"tokens": {"existingSecret": "sightline-identities"}}}
#: Kafka run by Strimzi: topics as KafkaTopics, the services authenticated as a KafkaUser with a client certificate.
STRIMZI_MTLS: dict[str, Any] = {
    "kafka": {
        "bootstrapServers": "events-kafka-bootstrap.kafka:9093",
        "securityProtocol": "SSL",
        "topicPrefix": "prod.",
        "strimzi": {"cluster": "events", "topics": {"enabled": True}, "user": {"enabled": True}},
    },
    "topics": {"partitions": {"sightline.frame-chunk-ready.v1": 48}},
}
STRIMZI_SCRAM: dict[str, Any] = {
    "kafka": {
        "securityProtocol": "SASL_SSL",
        "saslMechanism": "SCRAM-SHA-512",
        "strimzi": {
            "cluster": "events",
            "topics": {"enabled": True},
            "user": {"enabled": True, "authentication": "scram-sha-512"},
        },
    }
}
#: What an operator preparing a peak turns on: private CAs, the pod's cloud identity for S3, a ClickHouse cluster
#: of the Altinity operator, the rules and the dashboard for the Operator and Grafana, a per-node model cache.
PEAK_OPERATIONS: dict[str, Any] = {
    "s3": {"caSecret": "corp-ca", "lifecycleDays": 200, "auth": {"workloadIdentity": True}},
    "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/sightline"}},
    "clickhouse": {
        "caSecret": "corp-ca",
        "installation": {
            "enabled": True,
            "replicas": 2,
            "keeper": {"nodes": [{"host": "keeper-0.keeper", "port": 2181}, {"host": "keeper-1.keeper", "port": 2181}]},
            "user": {"passwordSecret": "clickhouse-password"},
        },
    },
    "metrics": {
        "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus"}},
        "grafanaDashboard": {
            "enabled": True,
            "namespace": "monitoring",
            "annotations": {"grafana_folder": "Sightline"},
        },
    },
    "cacheVolume": {"hostPath": {"path": "/var/cache/sightline", "type": "DirectoryOrCreate"}},
}
VALUE_SETS: dict[str, list[dict[str, Any] | Path]] = {
    "defaults": [REQUIRED],
    "console-on": [REQUIRED, CONSOLE_ON],
    "identities": [REQUIRED, CONSOLE_ON, IDENTITIES_ON],
    "gpu-off": [REQUIRED, CHART / "values-cpu.yaml"],
    "speech-on-gpu": [REQUIRED, {"services": {"speech": {"gpu": {"enabled": True, "count": 2}}}}],
    "keda-off": [REQUIRED, {"autoscaling": {"keda": {"enabled": False}}}],
    "keda-missing": [REQUIRED],
    "keda-missing-cpu-only": [REQUIRED, CHART / "values-cpu.yaml"],
    "autoscaling-off": [REQUIRED, {"autoscaling": {"enabled": False}}],
    "existing-secrets": [EXISTING_SECRETS],
    "extensions": [REQUIRED, EXTENSIONS],
    "sasl-chart-secret": [
        REQUIRED,
        {"kafka": {"securityProtocol": "SASL_PLAINTEXT", "auth": {"username": "u", "password": "p"}}},
    ],
    "strimzi-mtls": [REQUIRED, STRIMZI_MTLS],
    "strimzi-scram": [REQUIRED, STRIMZI_SCRAM],
    "peak-operations": [REQUIRED, PEAK_OPERATIONS],
    "monitoring-and-models": [
        REQUIRED,
        {
            "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus"}}},
            "competencyModels": {"files": {"software-engineer.yaml": "id: software-engineer\nversion: 1\n"}},
            "networkPolicy": {"metricsFrom": [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]},
            "kafka": {"topicPrefix": "staging."},
        },
    ],
}


#: API versions the test cluster serves beyond the built-in ones: KEDA's, except where a value set says otherwise.
CLUSTER_APIS = ("keda.sh/v1alpha1",)
VALUE_SET_APIS: dict[str, tuple[str, ...]] = {"keda-missing": (), "keda-missing-cpu-only": ()}


class RenderError(Exception):
    pass


def _value_args(value_sets: list[dict[str, Any] | Path], tmp: Path) -> list[str]:
    args: list[str] = []
    for index, values in enumerate(value_sets):
        if isinstance(values, Path):
            args += ["-f", str(values)]
        else:
            path = tmp / f"values-{index}.yaml"
            path.write_text(yaml.safe_dump(values))
            args += ["-f", str(path)]
    return args


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    if not HELM.exists():
        pytest.fail(f"{HELM} is missing: run `make setup` (or scripts/install-helm.sh)")
    return subprocess.run([str(HELM), *args], capture_output=True, text=True, timeout=120, check=False)


@cache
def _render_cached(name: str) -> tuple[dict[str, Any], ...]:
    return tuple(render(VALUE_SETS[name], apis=VALUE_SET_APIS.get(name, CLUSTER_APIS)))


def render(
    value_sets: list[dict[str, Any] | Path],
    tmp: Path | None = None,
    extra_args: list[str] | None = None,
    release: str = "rel",
    apis: tuple[str, ...] = CLUSTER_APIS,
) -> list[dict[str, Any]]:
    """`helm template`, as against a cluster serving `apis` beyond the built-in ones (KEDA's by default)."""
    tmp = tmp or Path(tempfile.mkdtemp(prefix="sightline-values-"))
    args = [*_value_args(value_sets, tmp), *(extra_args or []), *(f"--api-versions={api}" for api in apis)]
    done = helm("template", release, str(CHART), "--namespace", "sightline", *args)
    if done.returncode != 0:
        raise RenderError(done.stderr)
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def rendered(name: str) -> list[dict[str, Any]]:
    return list(_render_cached(name))


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def deployments(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Deployments by stage."""
    return {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in of_kind(docs, "Deployment").values()}


def container(workload: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(c: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


def pod_specs(docs: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            yield doc["metadata"]["name"], doc["spec"]["template"]["spec"]


def custom_schema(api_version: str, kind: str) -> dict[str, Any]:
    path = CRD_SCHEMAS / f"{kind.lower()}-{api_version.replace('/', '-')}.json"
    schema: dict[str, Any] = json.loads(path.read_text())
    return schema


# ---- the engine, lint and validation ---------------------------------------------------------------------------


def test_helm_is_a_real_v4_engine() -> None:
    done = helm("version", "--short")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("v4."), done.stdout


@pytest.mark.parametrize(
    "profile", [[REQUIRED], [REQUIRED, CHART / "values-cpu.yaml"], [EXISTING_SECRETS], [REQUIRED, EXTENSIONS]]
)
def test_lint_passes(profile: list[dict[str, Any] | Path], tmp_path: Path) -> None:
    done = helm("lint", "--strict", str(CHART), *_value_args(profile, tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


#: Manifests already validated (the same Service or budget appears in most value sets).
_VALIDATED: set[str] = set()


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_manifest_validates_strictly(name: str) -> None:
    docs = rendered(name)
    assert docs
    for doc in docs:
        where = f"{doc['kind']}/{doc['metadata']['name']} ({name})"
        fingerprint = json.dumps(doc, sort_keys=True)
        if fingerprint in _VALIDATED:
            continue
        if (doc["apiVersion"], doc["kind"]) in CUSTOM_KINDS:
            jsonschema.validate(doc, custom_schema(doc["apiVersion"], doc["kind"]))
            _VALIDATED.add(fingerprint)
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{where}: {exc}")
        _VALIDATED.add(fingerprint)


def test_the_kubernetes_validate_command_accepts_the_built_in_kinds(tmp_path: Path) -> None:
    """The same check operators run by hand: `kubernetes-validate -k 1.35.0 --strict` on the rendered chart."""
    docs = [d for d in rendered("defaults") if (d["apiVersion"], d["kind"]) not in CUSTOM_KINDS]
    manifest = tmp_path / "chart.yaml"
    manifest.write_text(yaml.safe_dump_all(docs))
    command = Path(sys.executable).parent / "kubernetes-validate"
    done = subprocess.run(
        [str(command), "-k", KUBERNETES_VERSION, "--strict", str(manifest)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(" passed for resource ") == len(docs), done.stdout


def test_strict_validation_catches_an_unknown_field() -> None:
    deployment = next(iter(of_kind(rendered("defaults"), "Deployment").values()))
    broken = json.loads(json.dumps(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    scaled = next(iter(of_kind(rendered("defaults"), "ScaledObject").values()))
    typo = json.loads(json.dumps(scaled))
    typo["spec"]["maxReplicas"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(typo, custom_schema(typo["apiVersion"], typo["kind"]))
    typo = json.loads(json.dumps(scaled))
    typo["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindow"] = 60
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(typo, custom_schema(typo["apiVersion"], typo["kind"]))


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ({"kafka": {"bootstrapServers": ""}}, "kafka.bootstrapServers is required"),
        ({"s3": {"endpoint": ""}}, "s3.endpoint is required"),
        ({"s3": {"auth": {"secretKey": ""}}}, "s3.auth.secretKey is required"),
        ({"clickhouse": {"dsn": ""}}, "clickhouse.dsn is required"),
        ({"kafka": {"securityProtocol": "SASL_SSL"}}, "kafka.auth.username is required"),
    ],
)
def test_a_missing_required_value_fails_rendering(missing: dict[str, Any], message: str, tmp_path: Path) -> None:
    with pytest.raises(RenderError, match=message):
        render([REQUIRED, missing], tmp_path)


@pytest.mark.parametrize(
    "invalid",
    [
        {"services": {"vision": {"gpu": {"count": 0}}}},
        {"kafka": {"securityProtocol": "TLS"}},
        {"env": {"KAFKA__BOOTSTRAP_SERVERS": "x:1"}},
        {"env": {"SIGHTLINE_KAFKA__BOOTSTRAP_SERVERS": "x:1"}},
        {"env": {"SIGHTLINE_KAFKA__SESSION_TIMEOUT_MS": "6000"}},
        {"services": {"sink": {"env": {"SIGHTLINE_CLICKHOUSE__DSN": "http://x"}}}},
        {"replicas": 3},
        {"topics": {"partitions": {"sightline.media-ingested.v1": 0}}},
        {"image": {"digest": "sha256:abc"}},
        {"image": {"cudaDigest": "latest"}},
        {"services": {"vision": {"strategy": {"type": "BlueGreen"}}}},
        {"services": {"vision": {"strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailabe": 0}}}}},
        {"services": {"vision": {"statusConsumerGroup": "x"}}},
        {"services": {"sink": {"statusConsumerGroup": ""}}},
        {"extraVolumeMounts": [{"name": "corp-ca"}]},
        {"topologySpreadConstraints": [{"maxSkew": 1}]},
        {"serviceAccount": {"create": True, "role": "admin"}},
        {"services": {"vision": {"autoscaling": {"lagThreshold": 20}}}},
        {"services": {"vision": {"autoscaling": {"secondsPerMessage": 0}}}},
        {"autoscaling": {"behavior": {"scaleDown": {"stabilizationWindow": 60}}}},
        {
            "autoscaling": {
                "behavior": {"scaleDown": {"policies": [{"type": "Replicas", "value": 1, "periodSeconds": 60}]}}
            }
        },
    ],
)
def test_the_values_schema_rejects_invalid_values(invalid: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(RenderError, match=r"values don't meet the specifications|at '/"):
        render([REQUIRED, invalid], tmp_path)


#: Every kind of resource the chart can render, for the name-length check.
EVERYTHING_ON: dict[str, Any] = {
    "kafka": {"securityProtocol": "SASL_SSL", "caSecret": "kafka-ca", **STRIMZI_SCRAM["kafka"]},
    "metrics": {"serviceMonitor": {"enabled": True}, **PEAK_OPERATIONS["metrics"]},
    "clickhouse": PEAK_OPERATIONS["clickhouse"],
}


@pytest.mark.parametrize("release", ["r" * 53, "sightline-" + "x" * 43, "a" * 30 + "-" + "b" * 22])
def test_every_name_fits_in_63_characters_and_stays_unique(release: str, tmp_path: Path) -> None:
    """Helm allows 53-character release names; the chart's suffixes must not push a name past 63."""
    docs = render([REQUIRED, EVERYTHING_ON], tmp_path, release=release)
    kinds = {doc["kind"] for doc in docs}
    assert {
        "Deployment", "Job", "Secret", "ConfigMap", "ScaledObject", "TriggerAuthentication", "KafkaTopic", "KafkaUser",
        "PrometheusRule", "ClickHouseInstallation",
    } <= kinds  # fmt: skip
    names = [(doc["kind"], doc["metadata"]["name"]) for doc in docs]
    for kind, name in names:
        assert len(name) <= 63 and not name.endswith("-"), (kind, name)
    assert len(names) == len(set(names)), sorted(names)
    # The names that must differ per component still say which component they are.
    assert {name.rsplit("-", 1)[-1] for kind, name in names if kind == "Job"} == {"migrate"}  # topics: KafkaTopics
    topics = [name for kind, name in names if kind == "KafkaTopic"]
    assert len(topics) == len(TOPICS) and all(name.endswith("-v1") for name in topics)
    assert {name.rsplit("-", 1)[-1] for kind, name in names if kind == "Deployment"} == set(STAGES)
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) not in CUSTOM_KINDS:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(
    ("impossible", "message"),
    [
        (
            {"services": {"speech": {"autoscaling": {"minReplicas": 8, "maxReplicas": 4}}}},
            r"services.speech.autoscaling.minReplicas \(8\) is above maxReplicas \(4\)",
        ),
        (
            {"services": {"ingest": {"autoscaling": {"minReplicas": 8, "maxReplicas": 10}}}},
            r"services.ingest.autoscaling.minReplicas \(8\) is above the partitions of ingest's input topics \(6\)",
        ),
        (
            {"autoscaling": {"keda": {"enabled": False}}, "services": {"sink": {"autoscaling": {"minReplicas": 0}}}},
            r"services.sink.autoscaling.minReplicas is 0, which only KEDA can scale from",
        ),
    ],
)
def test_impossible_value_combinations_fail_with_the_reason(
    impossible: dict[str, Any], message: str, tmp_path: Path
) -> None:
    with pytest.raises(RenderError, match=message):
        render([REQUIRED, impossible], tmp_path)


def test_the_same_values_render_where_they_are_possible(tmp_path: Path) -> None:
    """The checks above refuse only the combination: KEDA scales from zero, autoscaling off ignores the range."""
    zero = {"services": {"sink": {"autoscaling": {"minReplicas": 0}}}}
    scaled = of_kind(render([REQUIRED, zero], tmp_path), "ScaledObject")["rel-sightline-sink"]
    assert scaled["spec"]["minReplicaCount"] == 0
    upside_down = {
        "autoscaling": {"enabled": False},
        "services": {"speech": {"autoscaling": {"minReplicas": 8, "maxReplicas": 4}}},
    }
    assert deployments(render([REQUIRED, upside_down], tmp_path))["speech"]["spec"]["replicas"] == 2


# ---- the services -----------------------------------------------------------------------------------------------


def test_one_deployment_and_metrics_service_per_stage_running_the_worker() -> None:
    docs = rendered("defaults")
    found = deployments(docs)
    assert sorted(found) == sorted(STAGES)
    services = of_kind(docs, "Service")
    for stage, deployment in found.items():
        args = container(deployment)["args"]
        assert args == ["worker", f"services.{stage}.stage:make", "--group", f"sightline-{stage}"]
        service = services[deployment["metadata"]["name"]]
        assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        assert service["spec"]["ports"][0]["targetPort"] == "http-metrics"
    help_text = CliRunner().invoke(cli, ["worker", "--help"]).output
    assert "--group" in help_text


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_the_environment_is_settings_the_services_read(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every variable is a real setting (or a documented non-setting) and its value parses."""
    known = {var for var, _, _ in iter_env_vars()} | NON_SETTING_VARS
    for pod_name, spec in pod_specs(rendered(name)):
        for c in spec["containers"] + spec.get("initContainers", []):
            env = env_of(c)
            assert set(env) <= known, f"{pod_name}: unknown variables {set(env) - known}"
            settings_env = {var: value for var, value in env.items() if var not in NON_SETTING_VARS}
            if not settings_env:
                continue  # the partitions init container reads no settings
            for var, value in settings_env.items():
                monkeypatch.setenv(var, value if isinstance(value, str) else "from-a-secret")
            settings = Settings()
            assert settings.environment == "production"
            assert settings.kafka.session_timeout_ms == 45_000
            assert settings.kafka.bootstrap_servers == env["SIGHTLINE_KAFKA__BOOTSTRAP_SERVERS"]
            for var in settings_env:
                monkeypatch.delenv(var)


def test_env_overrides_replace_derived_settings_without_duplicates(tmp_path: Path) -> None:
    overrides = {
        "env": {"SIGHTLINE_WORKER__MAX_IN_FLIGHT": "8", "SIGHTLINE_SPEECH__BEAM_SIZE": "1"},
        "services": {
            "speech": {"env": {"SIGHTLINE_SPEECH__CPU_THREADS": "3", "SIGHTLINE_SPEECH__BEAM_SIZE": "2"}},
            "vision": {"resources": {"limits": {"cpu": "2500m"}}},
        },
    }
    docs = render([REQUIRED, overrides], tmp_path)
    for _, spec in pod_specs(docs):
        for c in spec["containers"] + spec.get("initContainers", []):
            names = [e["name"] for e in c["env"]]
            assert len(names) == len(set(names)), names
    found = deployments(docs)
    speech, vision = env_of(container(found["speech"])), env_of(container(found["vision"]))
    assert (speech["SIGHTLINE_SPEECH__CPU_THREADS"], speech["SIGHTLINE_SPEECH__BEAM_SIZE"]) == ("3", "2")
    assert speech["SIGHTLINE_WORKER__MAX_IN_FLIGHT"] == "8"
    # Thread pools follow the CPU limit, rounded up to whole cores.
    assert (vision["SIGHTLINE_VISION__THREADS"], vision["SIGHTLINE_VISION__DEVICE"]) == ("3", "cuda")
    defaults = deployments(rendered("defaults"))
    # speech on CPU: one model worker per core of the limit, one thread each
    on_cpu = env_of(container(defaults["speech"]))
    assert (on_cpu["SIGHTLINE_SPEECH__WORKERS"], on_cpu["SIGHTLINE_SPEECH__CPU_THREADS"]) == ("4", "1")
    on_gpu = deployments(render([REQUIRED, {"services": {"speech": {"gpu": {"enabled": True}}}}], tmp_path))
    assert "SIGHTLINE_SPEECH__WORKERS" not in env_of(container(on_gpu["speech"]))
    assert env_of(container(defaults["sink"]))["SIGHTLINE_SINK__MIGRATE_ON_START"] == "false"


def test_probes_use_the_health_server_the_pod_configures() -> None:
    for stage, deployment in deployments(rendered("defaults")).items():
        c = container(deployment)
        env = env_of(c)
        assert env["SIGHTLINE_OBSERVABILITY__HTTP_HOST"] == "0.0.0.0"
        port = int(env["SIGHTLINE_OBSERVABILITY__HTTP_PORT"])
        assert c["ports"] == [{"name": "http-metrics", "containerPort": port, "protocol": "TCP"}]
        assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http-metrics"}, stage
        assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http-metrics"}, stage
        assert c["startupProbe"]["httpGet"]["path"] == "/healthz"


@pytest.mark.parametrize("name", sorted(VALUE_SETS))
def test_every_pod_runs_locked_down_with_writable_scratch_space(name: str) -> None:
    for pod_name, spec in pod_specs(rendered(name)):
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        volumes = {v["name"]: v for v in spec["volumes"]}
        for c in spec["containers"] + spec.get("initContainers", []):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, pod_name
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
            mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], pod_name
            assert "limits" in c["resources"] and "requests" in c["resources"]


def test_speech_gets_a_writable_model_cache_and_the_competency_models() -> None:
    docs = rendered("monitoring-and-models")
    speech = deployments(docs)["speech"]
    c = container(speech)
    env = env_of(c)
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in speech["spec"]["template"]["spec"]["volumes"]}
    assert env["SIGHTLINE_SPEECH__MODEL_CACHE_DIR"].startswith("/cache/")
    assert "emptyDir" in volumes[mounts["/cache"]["name"]]
    models_dir = env["SIGHTLINE_SPEECH__COMPETENCY_MODELS_DIR"]
    config_map_name = volumes[mounts[models_dir]["name"]]["configMap"]["name"]
    config_map = of_kind(docs, "ConfigMap")[config_map_name]
    assert yaml.safe_load(config_map["data"]["software-engineer.yaml"]) == {"id": "software-engineer", "version": 1}


def test_the_projects_competency_models_install_with_set_file(tmp_path: Path) -> None:
    """The install command of the chart README: one `--set-file` per model of competency-models/."""
    models = sorted((ROOT / "competency-models").glob("*.yaml"))
    assert models
    set_files = [
        arg
        for path in models
        for arg in ("--set-file", f"competencyModels.files.{path.name.replace('.', chr(92) + '.')}={path}")
    ]
    docs = render([REQUIRED], tmp_path, set_files)
    data = of_kind(docs, "ConfigMap")["rel-sightline-competency-models"]["data"]
    assert data == {path.name: path.read_text() for path in models}


def test_an_existing_competency_configmap_replaces_the_charts(tmp_path: Path) -> None:
    docs = render([REQUIRED, {"competencyModels": {"existingConfigMap": "hr-models"}}], tmp_path)
    assert not [name for name in of_kind(docs, "ConfigMap") if "competency" in name]
    volumes = deployments(docs)["speech"]["spec"]["template"]["spec"]["volumes"]
    assert {"name": "competency-models", "configMap": {"name": "hr-models"}} in volumes


# ---- customary extensions ----------------------------------------------------------------------------------------


def test_customary_extensions_reach_every_pod() -> None:
    docs = rendered("extensions")
    (account,) = of_kind(docs, "ServiceAccount").values()
    assert account["metadata"]["annotations"] == EXTENSIONS["serviceAccount"]["annotations"]
    assert account["automountServiceAccountToken"] is False
    found = deployments(docs)
    for stage, deployment in found.items():
        spec = deployment["spec"]["template"]["spec"]
        c = container(deployment)
        assert spec["serviceAccountName"] == account["metadata"]["name"]
        assert spec["priorityClassName"] == ("sightline-gpu" if stage == "vision" else "sightline-batch")
        assert spec.get("runtimeClassName") == ("nvidia" if stage == "vision" else None), stage
        (spread,) = spec["topologySpreadConstraints"]
        assert spread["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        assert spread["topologyKey"] == "topology.kubernetes.io/zone"
        assert c["envFrom"] == EXTENSIONS["envFrom"]
        assert EXTENSIONS["extraVolumes"][0] in spec["volumes"]
        assert EXTENSIONS["extraVolumeMounts"][0] in c["volumeMounts"]
        digest = CUDA_DIGEST if stage == "vision" else DIGEST
        assert c["image"] == f"ghcr.io/sightline/sightline@{digest}"
    assert found["sink"]["spec"]["strategy"] == {"type": "Recreate"}
    for name, job in of_kind(docs, "Job").items():
        spec = job["spec"]["template"]["spec"]
        # Jobs run before the release's account exists, so they cannot use it.
        assert "serviceAccountName" not in spec and spec["priorityClassName"] == "sightline-batch"
        assert container(job)["envFrom"] == EXTENSIONS["envFrom"]
        assert EXTENSIONS["extraVolumeMounts"][0] in container(job)["volumeMounts"], name
        assert container(job)["image"] == f"ghcr.io/sightline/sightline@{DIGEST}"


def test_an_existing_service_account_serves_the_jobs_too(tmp_path: Path) -> None:
    docs = render([REQUIRED, {"serviceAccount": {"create": False, "name": "sightline-wi"}}], tmp_path)
    assert not of_kind(docs, "ServiceAccount")
    for _, spec in pod_specs(docs):
        assert spec["serviceAccountName"] == "sightline-wi"
        assert spec["automountServiceAccountToken"] is False


def test_gpu_rollouts_replace_pods_instead_of_surging_a_gpu_more() -> None:
    for name in ("defaults", "speech-on-gpu"):
        for stage, deployment in deployments(rendered(name)).items():
            on_gpu = container(deployment)["resources"]["limits"].get("nvidia.com/gpu")
            strategy = deployment["spec"].get("strategy")
            if on_gpu:
                assert strategy == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
            else:
                assert strategy is None, (name, stage)  # Kubernetes' default rolling update
    assert "strategy" not in deployments(rendered("gpu-off"))["vision"]["spec"]


# ---- GPU placement ------------------------------------------------------------------------------------------------


def _gpu_placement(deployment: dict[str, Any]) -> tuple[str | None, bool, bool, str]:
    spec = deployment["spec"]["template"]["spec"]
    c = container(deployment)
    return (
        c["resources"].get("limits", {}).get("nvidia.com/gpu"),
        spec.get("nodeSelector", {}).get("nvidia.com/gpu.present") == "true",
        any(t.get("key") == "nvidia.com/gpu" for t in spec.get("tolerations", [])),
        c["image"],
    )


def test_vision_runs_on_gpu_nodes_by_default() -> None:
    found = deployments(rendered("defaults"))
    assert _gpu_placement(found["vision"]) == ("1", True, True, "ghcr.io/sightline/sightline:0.1.0-cuda")
    for stage in set(STAGES) - {"vision"}:
        assert _gpu_placement(found[stage]) == (None, False, False, "ghcr.io/sightline/sightline:0.1.0"), stage
    assert env_of(container(found["speech"]))["SIGHTLINE_SPEECH__DEVICE"] == "cpu"
    assert env_of(container(found["vision"]))["SIGHTLINE_VISION__DEVICE"] == "cuda"


def test_the_cpu_profile_needs_no_gpu_anywhere() -> None:
    found = deployments(rendered("gpu-off"))
    for stage, deployment in found.items():
        assert _gpu_placement(deployment) == (None, False, False, "ghcr.io/sightline/sightline:0.1.0"), stage
    assert env_of(container(found["vision"]))["SIGHTLINE_VISION__DEVICE"] == "cpu"


def test_speech_can_move_to_gpu_nodes() -> None:
    speech = deployments(rendered("speech-on-gpu"))["speech"]
    assert _gpu_placement(speech) == ("2", True, True, "ghcr.io/sightline/sightline:0.1.0-cuda")
    assert env_of(container(speech))["SIGHTLINE_SPEECH__DEVICE"] == "cuda"


# ---- autoscaling --------------------------------------------------------------------------------------------------


STATUS_TOPIC = "sightline.stage-status.v1"
ERASURE_TOPIC = "sightline.candidate-erasure-requested.v1"


def test_the_sinks_status_reader_has_its_own_group() -> None:
    sink = deployments(rendered("defaults"))["sink"]
    env = env_of(container(sink))
    assert env["SIGHTLINE_SINK__STATUS_GROUP_ID"] == Settings().sink.status_group_id
    assert env["SIGHTLINE_SINK__STATUS_GROUP_ID"] != container(sink)["args"][-1]


def _consumed_by(stage: str, prefix: str = "") -> set[str]:
    return {prefix + spec.name for spec in TOPICS.values() if stage in spec.consumers}


def _partition_bound(stage: str) -> int:
    return max(TOPICS[name].partitions for name in _consumed_by(stage))


def test_default_partitions_are_the_topic_registrys() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["topics"]["partitions"] == {
        name: TOPICS[name].partitions for stage in STAGES for name in _consumed_by(stage)
    }


@pytest.mark.parametrize("name", ["defaults", "monitoring-and-models"])
def test_keda_scales_each_consumer_group_on_the_lag_of_its_input_topics(name: str) -> None:
    docs = rendered(name)
    prefix = "staging." if name == "monitoring-and-models" else ""
    scaled = of_kind(docs, "ScaledObject")
    assert not of_kind(docs, "HorizontalPodAutoscaler")
    for stage, deployment in deployments(docs).items():
        assert "replicas" not in deployment["spec"]
        spec = scaled[deployment["metadata"]["name"]]["spec"]
        assert spec["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
        group = container(deployment)["args"][-1]
        # The sink reads stage-status, the dead-letter topics and erasure requests in groups of their own.
        env = env_of(container(deployment))
        status_group = env.get("SIGHTLINE_SINK__STATUS_GROUP_ID")
        letter_group = env.get("SIGHTLINE_SINK__DEAD_LETTER_GROUP_ID")
        assert (status_group is None) == (letter_group is None) == (stage != "sink")
        triggers = spec["triggers"]
        assert {t["metadata"]["topic"] for t in triggers} == _consumed_by(stage, prefix)
        for trigger in triggers:
            topic = trigger["metadata"]["topic"].removeprefix(prefix)
            expected = group
            if stage == "sink" and topic == STATUS_TOPIC:
                expected = status_group
            elif stage == "sink" and TOPICS[topic].is_dead_letter:
                expected = letter_group
            elif stage == "sink" and topic == ERASURE_TOPIC:
                expected = env["SIGHTLINE_RETENTION__GROUP_ID"]
            # KEDA reads the group the broker knows: the services put the topic prefix before its name.
            assert trigger["type"] == "kafka" and trigger["metadata"]["consumerGroup"] == prefix + expected
        assert spec["minReplicaCount"] <= spec["maxReplicaCount"] <= _partition_bound(stage)
        # Scale-down above the minimum follows the HPA behaviour (cooldownPeriod is for scaling to zero only).
        behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 300
        assert behavior["scaleDown"]["policies"] == [{"type": "Percent", "value": 50, "periodSeconds": 60}]
        assert spec["fallback"] == {"failureThreshold": 3, "replicas": deployment_replica_count(stage)}
        assert {t["metadata"]["activationLagThreshold"] for t in triggers} == {"0"}


class _StubStage:
    """A handler that only names its stage: enough for the worker to name its consumer group."""

    input_topics: tuple[str, ...] = ()

    def __init__(self, stage: str) -> None:
        self.stage = stage

    async def handle(self, event: Any, meta: Any) -> list[Any]:
        return []


def test_keda_watches_the_groups_the_services_join(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker a Deployment starts, with that Deployment's environment and `--group`, joins exactly the
    group KEDA's triggers read, prefix included; so two prefixes never share a group."""
    groups_by_prefix = {}
    for name, prefix in (("defaults", ""), ("monitoring-and-models", "staging.")):
        docs = rendered(name)
        scaled = of_kind(docs, "ScaledObject")
        joined = set()
        for stage, deployment in deployments(docs).items():
            env = env_of(container(deployment))
            for var, value in env.items():
                monkeypatch.setenv(var, value if isinstance(value, str) else "from-a-secret")
            settings = Settings()
            assert settings.kafka.topic_prefix == prefix
            groups = [container(deployment)["args"][-1]]
            if "SIGHTLINE_SINK__STATUS_GROUP_ID" in env:
                groups.append(settings.sink.status_group_id)
            if "SIGHTLINE_SINK__DEAD_LETTER_GROUP_ID" in env:
                groups.append(settings.sink.dead_letter_group_id)
            if "SIGHTLINE_RETENTION__GROUP_ID" in env:
                groups.append(settings.retention.group_id)
            workers = {create_worker(_StubStage(stage), settings, group_id=group).group_id for group in groups}
            triggers = {
                t["metadata"]["consumerGroup"] for t in scaled[deployment["metadata"]["name"]]["spec"]["triggers"]
            }
            assert workers == triggers, stage
            assert all(group.startswith(prefix + "sightline-") for group in workers)
            joined |= workers
            for var in env:
                monkeypatch.delenv(var)
        groups_by_prefix[prefix] = joined
    assert groups_by_prefix[""].isdisjoint(groups_by_prefix["staging."])


def test_the_chart_sets_a_production_session_timeout(tmp_path: Path) -> None:
    """45 s by default (the services' 6 s suits the local broker only), for the services and the Jobs alike."""
    assert Settings().kafka.session_timeout_ms == 6000
    for _, spec in pod_specs(rendered("defaults")):
        for c in spec["containers"]:
            assert env_of(c)["SIGHTLINE_KAFKA__SESSION_TIMEOUT_MS"] == "45000"
    docs = render([REQUIRED, {"kafka": {"sessionTimeoutMs": 30000}}], tmp_path)
    assert env_of(container(deployments(docs)["fusion"]))["SIGHTLINE_KAFKA__SESSION_TIMEOUT_MS"] == "30000"
    with pytest.raises(RenderError, match=r"values don't meet the specifications|at '/"):
        render([REQUIRED, {"kafka": {"sessionTimeoutMs": 3000}}], tmp_path)


def test_the_tenants_media_sources_reach_ingest_as_the_setting_it_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingest reads no source by default; the values' per-tenant lists become SIGHTLINE_INGEST__SOURCES."""
    assert env_of(container(deployments(rendered("defaults"))["ingest"]))["SIGHTLINE_INGEST__SOURCES"] == "{}"
    sources = {
        "acme": {"s3": ["acme-hr/interviews/"], "httpHosts": ["media.acme.example", "*.cdn.example:8443"]},
        "*": {"allowedNetworks": ["10.20.0.0/16"]},
    }
    docs = render([REQUIRED, {"mediaSources": sources}], tmp_path)
    value = env_of(container(deployments(docs)["ingest"]))["SIGHTLINE_INGEST__SOURCES"]
    assert "SIGHTLINE_INGEST__SOURCES" not in env_of(container(deployments(docs)["vision"]))
    monkeypatch.setenv("SIGHTLINE_INGEST__SOURCES", value)
    policy = sources_from(Settings())
    acme = policy.rules_for("acme")
    assert [(g.bucket, g.prefix) for g in acme.s3] == [("acme-hr", "interviews/")]
    assert [(g.host, g.port) for g in acme.http_hosts] == [("media.acme.example", None), ("*.cdn.example", 8443)]
    assert [str(n) for n in policy.rules_for("globex").allowed_networks] == ["10.20.0.0/16"]
    for invalid in (
        {"acme": {"http_hosts": ["media.acme.example"]}},  # the settings' spelling is not the values'
        {"acme": {"s3": ["s3://acme-hr"]}},
        {"Acme": {"s3": ["acme-hr"]}},
    ):
        with pytest.raises(RenderError, match=r"values don't meet the specifications|at '/"):
            render([REQUIRED, {"mediaSources": invalid}], tmp_path)


def deployment_replica_count(stage: str) -> int:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    count: int = values["services"][stage]["replicaCount"]
    return count


def _lag_thresholds(docs: list[dict[str, Any]]) -> dict[str, int]:
    found: dict[str, int] = {}
    for scaled in of_kind(docs, "ScaledObject").values():
        stage = scaled["metadata"]["labels"]["app.kubernetes.io/component"]
        (threshold,) = {int(t["metadata"]["lagThreshold"]) for t in scaled["spec"]["triggers"]}
        found[stage] = threshold
    return found


def test_lag_thresholds_come_from_a_target_time_to_drain(tmp_path: Path) -> None:
    """lagThreshold = targetDrainSeconds / secondsPerMessage: a backlog of lagThreshold * replicas drains in time."""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    thresholds = _lag_thresholds(rendered("defaults"))
    for stage, threshold in thresholds.items():
        scaling = values["services"][stage]["autoscaling"]
        assert threshold == max(1, int(scaling["targetDrainSeconds"] / scaling["secondsPerMessage"])), stage
        # draining one replica's share of the backlog takes the target, within one message
        assert (
            abs(threshold * scaling["secondsPerMessage"] - scaling["targetDrainSeconds"])
            <= scaling["secondsPerMessage"]
        )
    # A 30-minute interview is 450 vision chunks: one replica drains it in time (a threshold of 20 asked for 23).
    assert thresholds["vision"] >= 450
    assert thresholds["frames"] < thresholds["speech"] < thresholds["vision"] < thresholds["sink"]
    tuned = {
        "services": {
            "vision": {"autoscaling": {"secondsPerMessage": 0.2, "targetDrainSeconds": 30}},
            "frames": {"autoscaling": {"secondsPerMessage": 90, "targetDrainSeconds": 60}},
        }
    }
    thresholds = _lag_thresholds(render([REQUIRED, tuned], tmp_path))
    assert (thresholds["vision"], thresholds["frames"]) == (150, 1)  # at least one message per replica


def test_max_replicas_are_capped_at_the_partitions(tmp_path: Path) -> None:
    wide = {"services": {stage: {"autoscaling": {"maxReplicas": 500}} for stage in STAGES}}
    for keda, kind, field in (
        (True, "ScaledObject", "maxReplicaCount"),
        (False, "HorizontalPodAutoscaler", "maxReplicas"),
    ):
        cpu_only = CHART / "values-cpu.yaml"  # GPU services get no CPU autoscaler
        docs = render([REQUIRED, cpu_only, wide, {"autoscaling": {"keda": {"enabled": keda}}}], tmp_path)
        scalers = of_kind(docs, kind)
        for stage, deployment in deployments(docs).items():
            assert scalers[deployment["metadata"]["name"]]["spec"][field] == _partition_bound(stage), stage
    more = {"topics": {"partitions": {"sightline.frame-chunk-ready.v1": 48}}}
    docs = render([REQUIRED, wide, more], tmp_path)
    assert of_kind(docs, "ScaledObject")["rel-sightline-vision"]["spec"]["maxReplicaCount"] == 48


@pytest.mark.parametrize("name", ["keda-off", "keda-missing"])
def test_without_keda_an_hpa_scales_each_cpu_service_and_gpu_services_keep_their_count(name: str) -> None:
    """Off by choice or absent from the cluster: CPU HPAs, but never for a GPU-bound stage."""
    docs = rendered(name)
    assert not of_kind(docs, "ScaledObject") and not of_kind(docs, "TriggerAuthentication")
    hpas = of_kind(docs, "HorizontalPodAutoscaler")
    for stage, deployment in deployments(docs).items():
        if stage == "vision":  # on GPUs: CPU says nothing of its load
            assert deployment["metadata"]["name"] not in hpas
            assert deployment["spec"]["replicas"] == deployment_replica_count("vision")
            continue
        hpa = hpas[deployment["metadata"]["name"]]["spec"]
        assert hpa["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": f"rel-sightline-{stage}",
        }
        assert hpa["maxReplicas"] <= _partition_bound(stage)
        assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
        assert "replicas" not in deployment["spec"]
    assert len(hpas) == len(STAGES) - 1
    # Vision on CPU is scaled on CPU like the rest.
    cpu_only = of_kind(rendered("keda-missing-cpu-only"), "HorizontalPodAutoscaler")
    assert "rel-sightline-vision" in cpu_only and len(cpu_only) == len(STAGES)


def test_a_zero_minimum_for_keda_becomes_one_under_the_hpa_fallback(tmp_path: Path) -> None:
    zero = {"services": {"sink": {"autoscaling": {"minReplicas": 0}}}}
    docs = render([REQUIRED, zero], tmp_path, apis=())
    assert of_kind(docs, "HorizontalPodAutoscaler")["rel-sightline-sink"]["spec"]["minReplicas"] == 1


def _notes(value_sets: list[dict[str, Any] | Path], tmp_path: Path) -> str:
    """NOTES.txt as `helm install` prints it (client-side dry run: a cluster without KEDA's API)."""
    done = helm("install", "rel", str(CHART), "--dry-run=client", *_value_args(value_sets, tmp_path))
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\nNOTES:\n", 1)[1]


def test_the_install_notes_say_how_the_services_scale(tmp_path: Path) -> None:
    missing = _notes([REQUIRED, {"services": {"sink": {"autoscaling": {"minReplicas": 0}}}}], tmp_path)
    assert "KEDA's API (keda.sh/v1alpha1) is not served by this cluster" in missing
    assert "HorizontalPodAutoscalers on CPU stand in for it" in missing
    assert "vision runs on GPUs, whose load CPU does not show: no HPA scales it" in missing
    assert "replicaCount (2) replicas" in missing
    assert "sink: minReplicas 0 needs KEDA; its HPA keeps at least 1 replica" in missing
    assert "speech runs on GPUs" not in missing
    off = _notes([REQUIRED, {"autoscaling": {"keda": {"enabled": False}}}], tmp_path)
    assert "autoscaling.keda.enabled=false" in off and "not served" not in off
    assert "vision runs on GPUs" in off
    cpu_only = _notes([REQUIRED, CHART / "values-cpu.yaml"], tmp_path)
    assert "not served by this cluster" in cpu_only and "runs on GPUs" not in cpu_only
    fixed = _notes([REQUIRED, {"autoscaling": {"enabled": False}}], tmp_path)
    assert "Autoscaling: off" in fixed and "HPA" not in fixed


def test_without_autoscaling_replicas_are_fixed() -> None:
    docs = rendered("autoscaling-off")
    assert not of_kind(docs, "ScaledObject") and not of_kind(docs, "HorizontalPodAutoscaler")
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for stage, deployment in deployments(docs).items():
        assert deployment["spec"]["replicas"] == values["services"][stage]["replicaCount"]


# ---- credentials ----------------------------------------------------------------------------------------------


def _secret_refs(c: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        var: (ref["secretKeyRef"]["name"], ref["secretKeyRef"]["key"])
        for var, ref in env_of(c).items()
        if isinstance(ref, dict)
    }


def test_the_charts_secret_is_a_release_resource_and_the_jobs_get_a_passing_copy() -> None:
    docs = rendered("sasl-chart-secret")
    secrets = of_kind(docs, "Secret")
    assert set(secrets) == {"rel-sightline", "rel-sightline-credentials"}
    # The services' Secret belongs to the release: updated in place on upgrade, deleted on uninstall.
    secret = secrets["rel-sightline"]
    assert not any(key.startswith("helm.sh/") for key in secret["metadata"].get("annotations", {}))
    assert secret["stringData"] == {
        "kafka-username": "u",
        "kafka-password": "p",
        "s3-access-key": "sightline",
        "s3-secret-key": "s3-secret",
        "clickhouse-dsn": "http://sightline:ch-secret@clickhouse.db:8123",
    }
    for deployment in deployments(docs).values():
        refs = _secret_refs(container(deployment))
        assert {name for name, _ in refs.values()} == {"rel-sightline"}
        assert {key for _, key in refs.values()} == set(secret["stringData"])
    auth = of_kind(docs, "TriggerAuthentication")["rel-sightline-kafka"]["spec"]["secretTargetRef"]
    assert {a["name"] for a in auth} == {"rel-sightline"}
    # The pre-install Jobs run before release resources exist: they read a hook copy, deleted after the hooks.
    copy = secrets["rel-sightline-credentials"]
    annotations = copy["metadata"]["annotations"]
    assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert set(annotations["helm.sh/hook-delete-policy"].split(",")) == {"before-hook-creation", "hook-succeeded"}
    assert copy["stringData"] == secret["stringData"]
    for job in of_kind(docs, "Job").values():
        refs = _secret_refs(container(job))
        assert {name for name, _ in refs.values()} == {"rel-sightline-credentials"}
    # Only the release's Secret restarts the services when it changes.
    checksums = {
        d["spec"]["template"]["metadata"]["annotations"]["checksum/credentials"] for d in deployments(docs).values()
    }
    rotated = render([*VALUE_SETS["sasl-chart-secret"], {"kafka": {"auth": {"password": "rotated"}}}])
    assert {
        d["spec"]["template"]["metadata"]["annotations"]["checksum/credentials"] for d in deployments(rotated).values()
    }.isdisjoint(checksums)


def test_without_hook_jobs_there_is_no_hook_copy(tmp_path: Path) -> None:
    docs = render([REQUIRED, {"jobs": {"migrate": {"enabled": False}, "topics": {"enabled": False}}}], tmp_path)
    assert set(of_kind(docs, "Secret")) == {"rel-sightline"}
    assert not [d for d in docs if "helm.sh/hook" in d["metadata"].get("annotations", {})]


def test_existing_secrets_are_referenced_and_no_secret_is_rendered() -> None:
    docs = rendered("existing-secrets")
    assert not of_kind(docs, "Secret")
    expected = {
        "SIGHTLINE_KAFKA__SASL_USERNAME": ("kafka-creds", "user"),
        "SIGHTLINE_KAFKA__SASL_PASSWORD": ("kafka-creds", "pass"),
        "SIGHTLINE_S3__ACCESS_KEY": ("s3-creds", "s3-access-key"),
        "SIGHTLINE_S3__SECRET_KEY": ("s3-creds", "s3-secret-key"),
        "SIGHTLINE_CLICKHOUSE__DSN": ("ch-creds", "url"),
    }
    for _, spec in pod_specs(docs):
        for c in spec["containers"]:
            assert _secret_refs(c) == expected
            assert env_of(c)["SIGHTLINE_KAFKA__SSL_CAFILE"].startswith("/etc/sightline/kafka-ca/")
    auth = of_kind(docs, "TriggerAuthentication")["rel-sightline-kafka"]["spec"]["secretTargetRef"]
    assert {(a["parameter"], a["name"], a["key"]) for a in auth} == {
        ("username", "kafka-creds", "user"),
        ("password", "kafka-creds", "pass"),
        ("ca", "kafka-ca", "ca.crt"),
    }
    for scaled in of_kind(docs, "ScaledObject").values():
        for trigger in scaled["spec"]["triggers"]:
            assert trigger["authenticationRef"] == {"name": "rel-sightline-kafka"}
            assert (trigger["metadata"]["sasl"], trigger["metadata"]["tls"]) == ("scram_sha512", "enable")


# ---- hooks, disruption budgets, network policy, monitoring ----------------------------------------------------------


def test_migrations_and_topics_run_as_pre_install_and_pre_upgrade_hooks() -> None:
    docs = rendered("defaults")
    jobs = of_kind(docs, "Job")
    assert {name: container(job)["args"] for name, job in jobs.items()} == {
        "rel-sightline-migrate": ["db", "migrate"],
        "rel-sightline-topics": ["topics", "create"],
    }
    weights = {}
    for doc in docs:
        annotations = doc["metadata"].get("annotations", {})
        if "helm.sh/hook" in annotations:
            assert set(annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
            weights[doc["kind"]] = int(annotations["helm.sh/hook-weight"])
            if doc["kind"] != "Job":  # what the Jobs read goes once they have run; a failed Job stays to be read
                assert "hook-succeeded" in annotations["helm.sh/hook-delete-policy"]
    # What the Jobs read (credentials, the partitions script) exists before they run.
    assert weights["Secret"] < weights["Job"] and weights["ConfigMap"] < weights["Job"]


def test_the_topics_job_creates_topics_with_the_partitions_from_the_values(tmp_path: Path) -> None:
    docs = render([REQUIRED, {"topics": {"partitions": {"sightline.frame-chunk-ready.v1": 48}}}], tmp_path)
    job = of_kind(docs, "Job")["rel-sightline-topics"]
    init = job["spec"]["template"]["spec"]["initContainers"][0]
    counts = json.loads(env_of(init)["SIGHTLINE_TOPIC_PARTITIONS"])
    assert counts["sightline.frame-chunk-ready.v1"] == 48
    schemas_dir = env_of(container(job))["SIGHTLINE_SCHEMAS_DIR"]
    assert init["command"][-1] == schemas_dir
    script = of_kind(docs, "ConfigMap")["rel-sightline-scripts"]["data"]["apply_partitions.py"]
    assert script == (CHART / "files" / "apply_partitions.py").read_text()


def _apply_partitions(counts: dict[str, int], target: Path) -> subprocess.CompletedProcess[str]:
    script = CHART / "files" / "apply_partitions.py"
    env = {"SIGHTLINE_TOPIC_PARTITIONS": json.dumps(counts), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, str(script), str(ROOT / "schemas"), str(target)], env=env, capture_output=True, text=True
    )


def _registry_partitions(schemas_dir: Path) -> subprocess.CompletedProcess[str]:
    code = (
        "import json; from services.common.contracts import TOPICS;"
        "print(json.dumps({n: t.partitions for n, t in TOPICS.items()}))"
    )
    env = {"SIGHTLINE_SCHEMAS_DIR": str(schemas_dir), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)


def test_partition_counts_reach_the_registry_the_topics_command_loads(tmp_path: Path) -> None:
    assert _apply_partitions({"sightline.frame-chunk-ready.v1": 48}, tmp_path / "ok").returncode == 0
    loaded = _registry_partitions(tmp_path / "ok")
    assert loaded.returncode == 0, loaded.stderr
    partitions = json.loads(loaded.stdout)
    assert partitions["sightline.frame-chunk-ready.v1"] == 48
    assert {n: p for n, p in partitions.items() if n != "sightline.frame-chunk-ready.v1"} == {
        n: t.partitions for n, t in TOPICS.items() if n != "sightline.frame-chunk-ready.v1"
    }
    # Fusion's inputs must stay co-partitioned: the registry refuses a count that breaks that.
    assert _apply_partitions({"sightline.vision-features.v1": 24}, tmp_path / "split").returncode == 0
    refused = _registry_partitions(tmp_path / "split")
    assert refused.returncode != 0 and "copartition group fusion" in refused.stderr
    unknown = _apply_partitions({"sightline.no-such-topic.v1": 3}, tmp_path / "unknown")
    assert unknown.returncode != 0 and "sightline.no-such-topic.v1" in unknown.stderr


def test_a_disruption_budget_covers_each_deployment() -> None:
    docs = rendered("defaults")
    budgets = of_kind(docs, "PodDisruptionBudget")
    for name, deployment in of_kind(docs, "Deployment").items():
        budget = budgets[name]["spec"]
        assert budget["maxUnavailable"] == 1
        assert budget["selector"] == deployment["spec"]["selector"]


def test_the_network_policy_admits_only_metrics_and_covers_every_pod() -> None:
    docs = rendered("monitoring-and-models")
    (policy,) = of_kind(docs, "NetworkPolicy").values()
    selector = policy["spec"]["podSelector"]["matchLabels"]
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            assert selector.items() <= doc["spec"]["template"]["metadata"]["labels"].items()
    (ingress,) = policy["spec"]["ingress"]
    assert ingress["ports"] == [{"port": "http-metrics", "protocol": "TCP"}]
    assert ingress["from"] == [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}]
    egress_ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert {53, 9092, 8123, 9000} <= egress_ports


def test_the_service_monitor_is_optional_and_scrapes_every_metrics_service() -> None:
    assert not of_kind(rendered("defaults"), "ServiceMonitor")
    docs = rendered("monitoring-and-models")
    (monitor,) = of_kind(docs, "ServiceMonitor").values()
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus"
    assert monitor["spec"]["endpoints"] == [{"port": "http-metrics", "path": "/metrics", "interval": "30s"}]
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = of_kind(docs, "Service")
    assert len(services) == len(STAGES)
    assert all(selector.items() <= s["metadata"]["labels"].items() for s in services.values())


# ---- documentation --------------------------------------------------------------------------------------------------


def test_the_readme_parameter_table_is_generated_from_the_values() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "helm" / "readme_table.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    readme = (CHART / "README.md").read_text()
    assert "| `services.vision.gpu.enabled` | Run on GPU nodes with the CUDA image | `true` |" in readme


# ---- the review console -------------------------------------------------------------------------------------------


def test_the_review_console_is_off_by_default() -> None:
    docs = rendered("defaults")
    assert "console" not in deployments(docs)
    assert not [d for d in docs if d["metadata"].get("labels", {}).get("app.kubernetes.io/component") == "console"]


def test_the_review_console_runs_the_console_command_with_its_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = rendered("console-on")
    console = deployments(docs)["console"]
    c = container(console)
    assert c["args"] == ["console"]
    assert "Serve the review console" in CliRunner().invoke(cli, ["console", "--help"]).output
    env = env_of(c)
    assert env["SIGHTLINE_CONSOLE__USERS_JSON"] == {"secretKeyRef": {"name": "console-users", "key": "users.json"}}
    assert env["SIGHTLINE_CONSOLE__SESSION_SECRET"] == {"secretKeyRef": {"name": "console-session", "key": "key"}}
    for var, value in env.items():
        monkeypatch.setenv(var, value if isinstance(value, str) else "from-a-secret")
    settings = Settings()
    assert (settings.console.host, settings.console.secure_cookies) == ("0.0.0.0", True)
    # Pages, health and metrics share the port the probes and the Service use.
    assert c["ports"] == [{"name": "http", "containerPort": settings.console.port, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    service = of_kind(docs, "Service")[console["metadata"]["name"]]
    assert service["spec"]["selector"].items() <= console["spec"]["template"]["metadata"]["labels"].items()
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]
    # The chart's policy admits only the metrics port; the console's own admits its port from the given peers.
    policy = of_kind(docs, "NetworkPolicy")[console["metadata"]["name"]]["spec"]
    assert policy["podSelector"]["matchLabels"] == console["spec"]["selector"]["matchLabels"]
    assert policy["ingress"] == [
        {"ports": [{"port": "http", "protocol": "TCP"}], "from": CONSOLE_ON["console"]["allowFrom"]}
    ]


@pytest.mark.parametrize("secret", ["users", "sessionSecret"])
def test_the_review_console_needs_its_users_and_session_key(secret: str, tmp_path: Path) -> None:
    values = {"console": {**CONSOLE_ON["console"], secret: {"existingSecret": ""}}}
    with pytest.raises(RenderError, match=rf"console\.{secret}\.existingSecret is required"):
        render([REQUIRED, values], tmp_path)


# ---- identities ---------------------------------------------------------------------------------------------------


def test_the_tokens_document_comes_from_a_secret_into_every_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = {"secretKeyRef": {"name": "sightline-identities", "key": "tokens.json"}}
    specs = dict(pod_specs(rendered("identities")))
    assert specs and all(
        env_of(c).get("SIGHTLINE_IDENTITY__TOKENS_JSON") == expected
        for spec in specs.values()
        for c in spec["containers"]
    )
    # ... among them the migration Job, which creates each tenant's ClickHouse roles and row policies from it.
    assert any(
        "migrate" in " ".join(c.get("args", []) + c.get("command", [])) for s in specs.values() for c in s["containers"]
    )
    assert not any(
        "SIGHTLINE_IDENTITY__TOKENS_JSON" in env_of(c)
        for _, spec in pod_specs(rendered("defaults"))
        for c in spec["containers"]
    )
    monkeypatch.setenv("SIGHTLINE_IDENTITY__TOKENS_JSON", '{"identities": []}')
    assert Settings().identity.tokens_json is not None  # the variable is the setting the services read


# ---- Kafka run by Strimzi, mutual TLS, managed cloud brokers -------------------------------------------------------


def _secret_volumes(spec: dict[str, Any]) -> dict[str, str]:
    """Secret name by mount path, for one container of a pod spec."""
    volumes = {v["name"]: v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
    (c,) = spec["containers"]
    return {m["mountPath"]: volumes[m["name"]] for m in c["volumeMounts"] if m["name"] in volumes}


def test_strimzi_topics_are_the_registrys_with_replication_that_suits_acks_all(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = rendered("strimzi-mtls")
    topics = {t["spec"]["topicName"]: t for t in of_kind(docs, "KafkaTopic").values()}
    assert set(topics) == {f"prod.{name}" for name in TOPICS}
    for name, spec in TOPICS.items():
        topic = topics[f"prod.{name}"]
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "events"
        expected_partitions = 48 if name == "sightline.frame-chunk-ready.v1" else spec.partitions
        assert (topic["spec"]["partitions"], topic["spec"]["replicas"]) == (expected_partitions, 3), name
        assert topic["spec"]["config"] == {
            "retention.ms": str(spec.retention_ms),
            "cleanup.policy": spec.cleanup_policy,
            "max.message.bytes": str(spec.max_message_bytes),
            # acks=all waits for 2 of 3 replicas: one broker may be down without stopping a stage
            "min.insync.replicas": "2",
        }, name
    # The Topic Operator owns the topics: no topics Job, nor what only it reads.
    assert set(of_kind(docs, "Job")) == {"rel-sightline-migrate"}
    assert "rel-sightline-scripts" not in of_kind(docs, "ConfigMap")


def test_the_services_authenticate_as_the_strimzi_user_with_its_certificate(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = rendered("strimzi-mtls")
    (user,) = of_kind(docs, "KafkaUser").values()
    name = user["metadata"]["name"]
    assert user["spec"]["authentication"] == {"type": "tls"}
    # Only the environment's own topics and groups (both carry the prefix).
    acls = {
        (a["resource"]["type"], a["resource"]["name"], a["resource"]["patternType"])
        for a in user["spec"]["authorization"]["acls"]
    }
    assert acls == {("topic", "prod.sightline.", "prefix"), ("group", "prod.sightline-", "prefix")}
    for deployment in deployments(docs).values():
        spec = deployment["spec"]["template"]["spec"]
        env = env_of(container(deployment))
        mounts = _secret_volumes(spec)
        # Strimzi writes the user's certificate into a Secret named like the user; the brokers' CA comes from the
        # cluster's CA Secret.
        assert (
            mounts["/etc/sightline/kafka-client"] == name
            and mounts["/etc/sightline/kafka-ca"] == "events-cluster-ca-cert"
        )
        assert env["SIGHTLINE_KAFKA__SSL_CERTFILE"] == "/etc/sightline/kafka-client/user.crt"
        assert env["SIGHTLINE_KAFKA__SSL_KEYFILE"] == "/etc/sightline/kafka-client/user.key"
        for var, value in env.items():
            monkeypatch.setenv(var, value if isinstance(value, str) else "from-a-secret")
        kafka = Settings().kafka
        assert (kafka.security_protocol, kafka.ssl_certfile, kafka.topic_prefix) == (
            "SSL",
            env["SIGHTLINE_KAFKA__SSL_CERTFILE"],
            "prod.",
        )
        for var in env:
            monkeypatch.delenv(var)
    auth = of_kind(docs, "TriggerAuthentication")["rel-sightline-kafka"]["spec"]["secretTargetRef"]
    assert {(a["parameter"], a["name"], a["key"]) for a in auth} == {
        ("ca", "events-cluster-ca-cert", "ca.crt"), ("cert", name, "user.crt"), ("key", name, "user.key"),
    }  # fmt: skip
    # The migrations run before the user exists (pre-install): they get none of its credentials.
    (migrate,) = of_kind(docs, "Job").values()
    assert name not in _secret_volumes(migrate["spec"]["template"]["spec"]).values()
    assert "SIGHTLINE_KAFKA__SSL_CERTFILE" not in env_of(container(migrate))


def test_a_scram_strimzi_user_signs_in_by_its_name_and_the_password_strimzi_generates() -> None:
    docs = rendered("strimzi-scram")
    (user,) = of_kind(docs, "KafkaUser").values()
    name = user["metadata"]["name"]
    assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
    for deployment in deployments(docs).values():
        env = env_of(container(deployment))
        assert env["SIGHTLINE_KAFKA__SASL_USERNAME"] == name
        assert env["SIGHTLINE_KAFKA__SASL_PASSWORD"] == {"secretKeyRef": {"name": name, "key": "password"}}
        assert env["SIGHTLINE_KAFKA__SASL_MECHANISM"] == "SCRAM-SHA-512"
    # The chart's Secret holds no Kafka credentials then; KEDA reads the same name and password.
    secret = of_kind(docs, "Secret")["rel-sightline"]["stringData"]
    assert not any(key.startswith("kafka") for key in secret)
    auth = of_kind(docs, "TriggerAuthentication")["rel-sightline-kafka"]["spec"]
    assert auth["env"] == [{"parameter": "username", "name": "SIGHTLINE_KAFKA__SASL_USERNAME"}]
    assert {"parameter": "password", "name": name, "key": "password"} in auth["secretTargetRef"]
    for job in of_kind(docs, "Job").values():
        assert not {"SIGHTLINE_KAFKA__SASL_USERNAME", "SIGHTLINE_KAFKA__SASL_PASSWORD"} & set(env_of(container(job)))


def test_a_client_certificate_of_ones_own_mounts_beside_the_ca(tmp_path: Path) -> None:
    own = {
        "kafka": {"securityProtocol": "SSL", "caSecret": "kafka-ca", "tls": {"clientSecret": "sightline-kafka-client"}}
    }
    docs = render([REQUIRED, own], tmp_path)
    for _, spec in pod_specs(docs):
        env = env_of(spec["containers"][0])
        assert _secret_volumes(spec)["/etc/sightline/kafka-client"] == "sightline-kafka-client"
        assert (env["SIGHTLINE_KAFKA__SSL_CERTFILE"], env["SIGHTLINE_KAFKA__SSL_KEYFILE"]) == (
            "/etc/sightline/kafka-client/tls.crt", "/etc/sightline/kafka-client/tls.key",
        )  # fmt: skip


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kafka": {"tls": {"clientSecret": "c"}}}, r"kafka.tls.clientSecret is a TLS client certificate"),
        (
            {
                "kafka": {
                    **STRIMZI_MTLS["kafka"],
                    "securityProtocol": "SASL_SSL",
                    "auth": {"username": "u", "password": "p"},
                }
            },
            r"authentication tls authenticates with a client certificate: set kafka.securityProtocol to SSL",
        ),
        ({"kafka": {**STRIMZI_SCRAM["kafka"], "saslMechanism": "PLAIN"}}, r"scram-sha-512 needs .* SCRAM-SHA-512"),
        (
            {"kafka": {**STRIMZI_MTLS["kafka"], "strimzi": {"cluster": "events", "user": {"enabled": True}}}},
            r"the topics Job runs before the release's KafkaUser exists",
        ),
        (
            {"kafka": {"strimzi": {"cluster": "events", "topics": {"enabled": True}}, "minInsyncReplicas": 4}},
            r"minInsyncReplicas \(4\) is above kafka.replicationFactor \(3\)",
        ),
        (
            {"kafka": {"strimzi": {"cluster": "events", "topics": {"enabled": True}}, "minInsyncReplicas": 3}},
            r"every broker restart would stop acks=all produces; use 2",
        ),
        ({"kafka": {"strimzi": {"topics": {"enabled": True}}}}, r"at '/kafka/strimzi"),
        (
            {
                "clickhouse": {
                    "installation": {**PEAK_OPERATIONS["clickhouse"]["installation"], "keeper": {"nodes": []}}
                }
            },
            r"replicas above 1 needs clickhouse.installation.keeper.nodes",
        ),
        ({"cacheVolume": {"hostPath": {"path": "/x"}, "emptyDir": {}}}, r"at '/cacheVolume'"),
        ({"s3": {"lifecycleDays": 400}}, r"at '/s3/lifecycleDays'"),
    ],
)
def test_connection_values_that_cannot_work_fail_with_the_reason(
    values: dict[str, Any], message: str, tmp_path: Path
) -> None:
    with pytest.raises(RenderError, match=message):
        render([REQUIRED, values], tmp_path)


def test_the_network_policy_lets_the_services_reach_managed_kafka() -> None:
    """Amazon MSK listens on 9094 (TLS), 9096 (SASL/SCRAM) and 9098 (IAM); Strimzi and Confluent on 9092-9094."""
    (policy,) = of_kind(rendered("defaults"), "NetworkPolicy").values()
    ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert {9092, 9093, 9094, 9096, 9098} <= ports


# ---- S3 and ClickHouse as operators run them; rules and dashboard --------------------------------------------------


def test_s3_through_the_pods_identity_with_a_private_ca_and_a_lifecycle_backstop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docs = rendered("peak-operations")
    # No S3 keys anywhere: the pods' service account carries the role.
    assert not any(key.startswith("s3") for key in of_kind(docs, "Secret")["rel-sightline"]["stringData"])
    (account,) = of_kind(docs, "ServiceAccount").values()
    assert "eks.amazonaws.com/role-arn" in account["metadata"]["annotations"]
    for stage, deployment in deployments(docs).items():
        spec = deployment["spec"]["template"]["spec"]
        env = env_of(container(deployment))
        assert "SIGHTLINE_S3__ACCESS_KEY" not in env and spec["serviceAccountName"] == account["metadata"]["name"]
        mounts = _secret_volumes(spec)
        assert mounts["/etc/sightline/s3-ca"] == mounts["/etc/sightline/clickhouse-ca"] == "corp-ca"
        for var, value in env.items():
            monkeypatch.setenv(var, value if isinstance(value, str) else "from-a-secret")
        settings = Settings()
        assert (settings.s3.credentials, settings.s3.lifecycle_days) == ("environment", 200)
        assert settings.s3.ca_file == "/etc/sightline/s3-ca/ca.crt"
        assert settings.clickhouse.ca_file == "/etc/sightline/clickhouse-ca/ca.crt"
        for var in env:
            monkeypatch.delenv(var)
        # The model cache is the node's, so weights are assembled once per node, not in every new pod.
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["cache"] == {"name": "cache", "hostPath": PEAK_OPERATIONS["cacheVolume"]["hostPath"]}, stage


def test_the_clickhouse_cluster_of_the_altinity_operator() -> None:
    (chi,) = of_kind(rendered("peak-operations"), "ClickHouseInstallation").values()
    configuration = chi["spec"]["configuration"]
    assert configuration["clusters"] == [{"name": "sightline", "layout": {"shardsCount": 1, "replicasCount": 2}}]
    assert configuration["zookeeper"]["nodes"][0] == {"host": "keeper-0.keeper", "port": 2181}
    assert configuration["users"]["sightline/k8s_secret_password"] == "clickhouse-password/password"
    assert configuration["users"]["sightline/access_management"] == 1  # the migrations create tenants' roles
    assert not of_kind(rendered("defaults"), "ClickHouseInstallation")


def test_the_chart_ships_the_tested_rules_and_the_dashboard_when_asked() -> None:
    assert not of_kind(rendered("defaults"), "PrometheusRule")
    docs = rendered("peak-operations")
    (rule,) = of_kind(docs, "PrometheusRule").values()
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus"
    tested = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    assert rule["spec"]["groups"] == tested["groups"]  # the very rules promtool tests
    (dashboard,) = [c for c in of_kind(docs, "ConfigMap").values() if "sightline.json" in c.get("data", {})]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["namespace"] == "monitoring"
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "Sightline"}
    shipped = json.loads(dashboard["data"]["sightline.json"])
    assert shipped == json.loads((ROOT / "deploy" / "grafana" / "sightline.json").read_text())


def test_the_clickhouse_topology_and_backup_target_reach_every_service_and_the_migrations(tmp_path: Path) -> None:
    topology = {
        "clickhouse": {
            "cluster": "{cluster}",
            "replicated": True,
            "sharded": True,
            "backupUrl": "https://s3.example.com/backups/sightline/",
        }
    }
    docs = render([REQUIRED, topology], tmp_path)
    workloads = [*of_kind(docs, "Deployment").values(), *of_kind(docs, "Job").values()]
    assert workloads
    for workload in workloads:
        env = env_of(container(workload))
        assert env["SIGHTLINE_CLICKHOUSE__CLUSTER"] == "{cluster}"
        assert (env["SIGHTLINE_CLICKHOUSE__REPLICATED"], env["SIGHTLINE_CLICKHOUSE__SHARDED"]) == ("true", "true")
        assert env["SIGHTLINE_CLICKHOUSE__BACKUP_URL"] == "https://s3.example.com/backups/sightline/"
    single = env_of(container(deployments(render([REQUIRED], tmp_path))["sink"]))
    assert not {k for k in single if k.startswith("SIGHTLINE_CLICKHOUSE__") and k.endswith(("CLUSTER", "SHARDED"))}
    with pytest.raises(RenderError, match=r"need clickhouse\.cluster"):
        render([REQUIRED, {"clickhouse": {"replicated": True}}], tmp_path)
