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
from services.common.settings import Settings, iter_env_vars

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
VALUE_SETS: dict[str, list[dict[str, Any] | Path]] = {
    "defaults": [REQUIRED],
    "gpu-off": [REQUIRED, CHART / "values-cpu.yaml"],
    "speech-on-gpu": [REQUIRED, {"services": {"speech": {"gpu": {"enabled": True, "count": 2}}}}],
    "keda-off": [REQUIRED, {"autoscaling": {"keda": {"enabled": False}}}],
    "autoscaling-off": [REQUIRED, {"autoscaling": {"enabled": False}}],
    "existing-secrets": [EXISTING_SECRETS],
    "sasl-chart-secret": [
        REQUIRED,
        {"kafka": {"securityProtocol": "SASL_PLAINTEXT", "auth": {"username": "u", "password": "p"}}},
    ],
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
    return tuple(render(VALUE_SETS[name]))


def render(
    value_sets: list[dict[str, Any] | Path], tmp: Path | None = None, extra_args: list[str] | None = None
) -> list[dict[str, Any]]:
    tmp = tmp or Path(tempfile.mkdtemp(prefix="sightline-values-"))
    args = [*_value_args(value_sets, tmp), *(extra_args or [])]
    done = helm("template", "rel", str(CHART), "--namespace", "sightline", *args)
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


@pytest.mark.parametrize("profile", [[REQUIRED], [REQUIRED, CHART / "values-cpu.yaml"], [EXISTING_SECRETS]])
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
        {"services": {"sink": {"env": {"SIGHTLINE_CLICKHOUSE__DSN": "http://x"}}}},
        {"replicas": 3},
        {"topics": {"partitions": {"sightline.media-ingested.v1": 0}}},
    ],
)
def test_the_values_schema_rejects_invalid_values(invalid: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(RenderError, match=r"values don't meet the specifications|at '/"):
        render([REQUIRED, invalid], tmp_path)


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
        # The sink reads stage-status and the dead-letter topics in groups of their own (SIGHTLINE_SINK__*_GROUP_ID).
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
            assert trigger["type"] == "kafka" and trigger["metadata"]["consumerGroup"] == expected
        assert spec["minReplicaCount"] <= spec["maxReplicaCount"] <= _partition_bound(stage)


def test_max_replicas_are_capped_at_the_partitions(tmp_path: Path) -> None:
    wide = {"services": {stage: {"autoscaling": {"maxReplicas": 500}} for stage in STAGES}}
    for keda, kind, field in (
        (True, "ScaledObject", "maxReplicaCount"),
        (False, "HorizontalPodAutoscaler", "maxReplicas"),
    ):
        docs = render([REQUIRED, wide, {"autoscaling": {"keda": {"enabled": keda}}}], tmp_path)
        scalers = of_kind(docs, kind)
        for stage, deployment in deployments(docs).items():
            assert scalers[deployment["metadata"]["name"]]["spec"][field] == _partition_bound(stage), stage
    more = {"topics": {"partitions": {"sightline.frame-chunk-ready.v1": 48}}}
    docs = render([REQUIRED, wide, more], tmp_path)
    assert of_kind(docs, "ScaledObject")["rel-sightline-vision"]["spec"]["maxReplicaCount"] == 48


def test_without_keda_an_hpa_scales_each_service() -> None:
    docs = rendered("keda-off")
    assert not of_kind(docs, "ScaledObject")
    hpas = of_kind(docs, "HorizontalPodAutoscaler")
    for stage, deployment in deployments(docs).items():
        hpa = hpas[deployment["metadata"]["name"]]["spec"]
        assert hpa["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": f"rel-sightline-{stage}",
        }
        assert hpa["maxReplicas"] <= _partition_bound(stage)
        assert "replicas" not in deployment["spec"]


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


def test_the_charts_secret_holds_the_credentials_as_a_pre_install_hook() -> None:
    docs = rendered("sasl-chart-secret")
    secret = of_kind(docs, "Secret")["rel-sightline-credentials"]
    assert "pre-install" in secret["metadata"]["annotations"]["helm.sh/hook"]
    assert secret["stringData"] == {
        "kafka-username": "u",
        "kafka-password": "p",
        "s3-access-key": "sightline",
        "s3-secret-key": "s3-secret",
        "clickhouse-dsn": "http://sightline:ch-secret@clickhouse.db:8123",
    }
    for deployment in deployments(docs).values():
        refs = _secret_refs(container(deployment))
        assert {name for name, _ in refs.values()} == {"rel-sightline-credentials"}
        assert {key for _, key in refs.values()} == set(secret["stringData"])


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
