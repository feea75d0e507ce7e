{{/* Names, labels and the pieces every service shares. */}}

{{- define "sightline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sightline.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "sightline.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "sightline.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: sightline
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector of one service; call with (dict "root" $ "service" "vision"). */}}
{{- define "sightline.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sightline.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .service }}
{{- end -}}

{{/*
Name of one of the release's resources: the fullname, cut so that "-<suffix>" still fits in 63 characters,
then the suffix. Cutting the joined name instead would cut the suffix off a long release's names, and the
migrate and topics Jobs (or two services) could end up with one name; call with
(dict "root" $ "suffix" "migrate").
*/}}
{{- define "sightline.componentName" -}}
{{- $room := sub 62 (len .suffix) | int -}}
{{- printf "%s-%s" (include "sightline.fullname" .root | trunc $room | trimSuffix "-") .suffix -}}
{{- end -}}

{{- define "sightline.serviceName" -}}
{{- include "sightline.componentName" (dict "root" .root "suffix" .service) -}}
{{- end -}}

{{/*
The chart's credentials Secret (call with (dict "root" $ "hook" bool)): the release's own, named like the
release, for the services; a copy as a hook for the Jobs that run before the release's resources exist.
The copy keeps the name the Secret had when it was itself a hook, so upgrading replaces that old one.
*/}}
{{- define "sightline.credentialsSecret" -}}
{{- if .hook -}}
{{- include "sightline.componentName" (dict "root" .root "suffix" "credentials") -}}
{{- else -}}
{{- include "sightline.fullname" .root -}}
{{- end -}}
{{- end -}}

{{/*
The topics a service consumes, comma-separated (schemas/topics.yaml, `consumers`); these are facts of the
code, so they are not values. A unit test compares them with the registry.
*/}}
{{- define "sightline.inputTopics" -}}
{{- $topics := dict
  "ingest" "sightline.interview-completed.v1"
  "frames" "sightline.media-ingested.v1,sightline.frame-range-requested.v1"
  "vision" "sightline.frame-chunk-ready.v1"
  "speech" "sightline.audio-ready.v1"
  "fusion" "sightline.media-ingested.v1,sightline.vision-features.v1,sightline.speech-results.v1,sightline.stage-status.v1,sightline.rescore-requested.v1"
  "sink" "sightline.media-ingested.v1,sightline.vision-features.v1,sightline.speech-results.v1,sightline.profile-ready.v1,sightline.candidate-demographics.v1,sightline.stage-status.v1,sightline.review-decision.v1,sightline.candidate-outcome.v1,sightline.dead-letter.ingest.v1,sightline.dead-letter.frames.v1,sightline.dead-letter.vision.v1,sightline.dead-letter.speech.v1,sightline.dead-letter.fusion.v1,sightline.dead-letter.sink.v1,sightline.candidate-erasure-requested.v1"
-}}
{{- get $topics .service -}}
{{- end -}}

{{/*
The consumer group reading one input topic, as the broker knows it (the services put the topic prefix before
the group's name); call with (dict "root" $ "service" "sink" "topic" "..."). The sink reads stage-status in
a group of its own (its status reader), the dead-letter topics in another (its dead-letter reader), erasure
requests in a third (its erasure reader), everything else in the service's group.
*/}}
{{- define "sightline.consumerGroupFor" -}}
{{- $svc := get .root.Values.services .service -}}
{{- $group := $svc.consumerGroup -}}
{{- if and (eq .service "sink") (eq .topic "sightline.stage-status.v1") -}}
{{- $group = $svc.statusConsumerGroup -}}
{{- else if and (eq .service "sink") (hasPrefix "sightline.dead-letter." .topic) -}}
{{- $group = $svc.deadLetterConsumerGroup -}}
{{- else if and (eq .service "sink") (eq .topic "sightline.candidate-erasure-requested.v1") -}}
{{- $group = $svc.erasureConsumerGroup -}}
{{- end -}}
{{- printf "%s%s" .root.Values.kafka.topicPrefix $group -}}
{{- end -}}

{{/*
Most replicas worth running: a consumer group never has more busy members than the partitions of its
widest input topic, so the configured maximum is capped there.
*/}}
{{- define "sightline.maxReplicas" -}}
{{- $svc := get .root.Values.services .service -}}
{{- $bound := 0 -}}
{{- range $topic := splitList "," (include "sightline.inputTopics" .) -}}
{{- $partitions := index $.root.Values.topics.partitions $topic | default 0 | int -}}
{{- if not $partitions -}}
{{- fail (printf "topics.partitions has no entry for %s (consumed by %s)" $topic $.service) -}}
{{- end -}}
{{- $bound = max $bound $partitions -}}
{{- end -}}
{{- min (int $svc.autoscaling.maxReplicas) $bound -}}
{{- end -}}

{{/* Whether KEDA scales the services: wanted, and the cluster serves its API (else the HPA fallback). */}}
{{- define "sightline.kedaAvailable" -}}
{{- $auto := .Values.autoscaling -}}
{{- if and $auto.enabled $auto.keda.enabled (.Capabilities.APIVersions.Has "keda.sh/v1alpha1") -}}true{{- end -}}
{{- end -}}

{{/*
What scales one service, call with (dict "root" $ "service" "vision"): "keda", "hpa" or nothing (fixed
replicaCount). CPU is no measure of a GPU service's load (its work waits on the GPU), so without KEDA a GPU
service is not autoscaled rather than scaled on the wrong signal.
*/}}
{{- define "sightline.scaler" -}}
{{- $svc := get .root.Values.services .service -}}
{{- if .root.Values.autoscaling.enabled -}}
{{- if include "sightline.kedaAvailable" .root -}}keda
{{- else if not $svc.gpu.enabled -}}hpa
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
KEDA's lag per replica, from a target time to drain: a backlog of lagThreshold × replicas messages takes
lagThreshold × secondsPerMessage = targetDrainSeconds to clear. At least 1.
*/}}
{{- define "sightline.lagThreshold" -}}
{{- $scaling := (get .root.Values.services .service).autoscaling -}}
{{- max 1 (divf $scaling.targetDrainSeconds $scaling.secondsPerMessage | floor | int) -}}
{{- end -}}

{{/* The image reference: by digest when one is set (immutable), else by tag. */}}
{{- define "sightline.image" -}}
{{- $img := .root.Values.image -}}
{{- $tag := default .root.Chart.AppVersion $img.tag -}}
{{- $digest := $img.digest -}}
{{- if .gpu -}}
{{- $tag = default (printf "%s-cuda" $tag) $img.cudaTag -}}
{{- $digest = $img.cudaDigest -}}
{{- end -}}
{{- if $digest -}}
{{- printf "%s/%s@%s" $img.registry $img.repository $digest -}}
{{- else -}}
{{- printf "%s/%s:%s" $img.registry $img.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "sightline.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "sightline.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
Value combinations the schema cannot express (it cannot compare two fields); included by every workload
template, so `helm template`, `install` and `upgrade` all stop with the reason.
*/}}
{{- define "sightline.validateValues" -}}
{{- include "sightline.validateKafka" . -}}
{{- if .Values.autoscaling.enabled -}}
{{- range $service, $svc := .Values.services -}}
{{- if $svc.enabled -}}
{{- $min := int $svc.autoscaling.minReplicas -}}
{{- $max := int $svc.autoscaling.maxReplicas -}}
{{- $where := printf "services.%s.autoscaling" $service -}}
{{- if gt $min $max -}}
{{- fail (printf "%s.minReplicas (%d) is above maxReplicas (%d)" $where $min $max) -}}
{{- end -}}
{{- $cap := include "sightline.maxReplicas" (dict "root" $ "service" $service) | int -}}
{{- if gt $min $cap -}}
{{- fail (printf "%s.minReplicas (%d) is above the partitions of %s's input topics (%d): the extra replicas would idle; raise topics.partitions first" $where $min $service $cap) -}}
{{- end -}}
{{- if and (eq $min 0) (not $.Values.autoscaling.keda.enabled) -}}
{{- fail (printf "%s.minReplicas is 0, which only KEDA can scale from (an HPA needs at least 1): set it to 1 or enable autoscaling.keda" $where) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Pod settings shared by the services and the Jobs (call with (dict "root" $ "svc" $svc), svc empty for a
Job): account, priority, runtime class.
*/}}
{{- define "sightline.podPlacement" -}}
{{- $root := .root -}}
{{- $svc := .svc | default (dict) -}}
{{- if $svc }}
serviceAccountName: {{ include "sightline.serviceAccountName" $root }}
{{- else if and (not $root.Values.serviceAccount.create) $root.Values.serviceAccount.name }}
{{- /* Jobs run before the release's account exists: only an existing one can be theirs. */}}
serviceAccountName: {{ $root.Values.serviceAccount.name }}
{{- end }}
{{- with default $root.Values.priorityClassName $svc.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- $runtime := $svc.runtimeClassName -}}
{{- if and (not $runtime) $svc (dig "gpu" "enabled" false $svc) -}}
{{- $runtime = $root.Values.gpu.runtimeClassName -}}
{{- end -}}
{{- with $runtime }}
runtimeClassName: {{ . }}
{{- end }}
{{- end -}}

{{- define "sightline.kafkaUsesSasl" -}}
{{- if hasPrefix "SASL" .Values.kafka.securityProtocol -}}true{{- end -}}
{{- end -}}

{{- define "sightline.kafkaUsesTls" -}}
{{- if has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL") -}}true{{- end -}}
{{- end -}}

{{/* The Strimzi KafkaUser of the release (its name is also the SCRAM user and the Secret Strimzi writes). */}}
{{- define "sightline.strimziUser" -}}
{{- if .Values.kafka.strimzi.user.enabled -}}
{{- include "sightline.componentName" (dict "root" . "suffix" "kafka-user") -}}
{{- end -}}
{{- end -}}

{{/* Secret holding the brokers' CA under ca.crt: the values' own, else the Strimzi cluster's CA. */}}
{{- define "sightline.kafkaCaSecret" -}}
{{- if include "sightline.kafkaUsesTls" . -}}
{{- $strimzi := .Values.kafka.strimzi -}}
{{- if .Values.kafka.caSecret -}}
{{- .Values.kafka.caSecret -}}
{{- else if and $strimzi.cluster (or $strimzi.user.enabled $strimzi.topics.enabled) -}}
{{- printf "%s-cluster-ca-cert" $strimzi.cluster -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The client certificate for mutual TLS, as "secret/certKey/keyKey": the values' own, else the one Strimzi issues
to the release's KafkaUser with tls authentication. Empty without one.
*/}}
{{- define "sightline.kafkaClientCert" -}}
{{- $root := .root -}}
{{- $tls := $root.Values.kafka.tls -}}
{{- if $tls.clientSecret -}}
{{- printf "%s/%s/%s" $tls.clientSecret $tls.certKey $tls.keyKey -}}
{{- else if and (not .hook) (include "sightline.strimziUser" $root) (eq $root.Values.kafka.strimzi.user.authentication "tls") -}}
{{- printf "%s/user.crt/user.key" (include "sightline.strimziUser" $root) -}}
{{- end -}}
{{- end -}}

{{/* Whether the SASL password comes from the Strimzi KafkaUser's Secret (scram-sha-512 authentication). */}}
{{- define "sightline.kafkaStrimziScram" -}}
{{- if and (include "sightline.strimziUser" .) (eq .Values.kafka.strimzi.user.authentication "scram-sha-512") -}}true{{- end -}}
{{- end -}}

{{/* Where each credential lives: the chart's Secret or an existing one; called like credentialsSecret. */}}
{{- define "sightline.kafkaSecret" -}}
{{- if include "sightline.kafkaStrimziScram" .root -}}
{{- include "sightline.strimziUser" .root -}}
{{- else -}}
{{- default (include "sightline.credentialsSecret" .) .root.Values.kafka.auth.existingSecret -}}
{{- end -}}
{{- end -}}
{{- define "sightline.s3Secret" -}}
{{- default (include "sightline.credentialsSecret" .) .root.Values.s3.auth.existingSecret -}}
{{- end -}}
{{- define "sightline.clickhouseSecret" -}}
{{- default (include "sightline.credentialsSecret" .) .root.Values.clickhouse.existingSecret -}}
{{- end -}}

{{/* Connection settings of every container; call with (dict "root" $ "hook" bool), true in the hook Jobs. */}}
{{- define "sightline.connectionEnv" -}}
{{- $root := .root -}}
- name: SIGHTLINE_ENVIRONMENT
  value: {{ $root.Values.environment | quote }}
- name: SIGHTLINE_KAFKA__BOOTSTRAP_SERVERS
  value: {{ required "kafka.bootstrapServers is required" $root.Values.kafka.bootstrapServers | quote }}
- name: SIGHTLINE_KAFKA__SECURITY_PROTOCOL
  value: {{ $root.Values.kafka.securityProtocol | quote }}
- name: SIGHTLINE_KAFKA__TOPIC_PREFIX
  value: {{ $root.Values.kafka.topicPrefix | quote }}
- name: SIGHTLINE_KAFKA__SESSION_TIMEOUT_MS
  value: {{ $root.Values.kafka.sessionTimeoutMs | quote }}
{{- if and (include "sightline.kafkaUsesSasl" $root) (not (and .hook (include "sightline.kafkaStrimziScram" $root))) }}
- name: SIGHTLINE_KAFKA__SASL_MECHANISM
  value: {{ $root.Values.kafka.saslMechanism | quote }}
{{- if include "sightline.kafkaStrimziScram" $root }}
- name: SIGHTLINE_KAFKA__SASL_USERNAME
  value: {{ include "sightline.strimziUser" $root | quote }}
- name: SIGHTLINE_KAFKA__SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "sightline.strimziUser" $root }}
      key: password
{{- else }}
- name: SIGHTLINE_KAFKA__SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ include "sightline.kafkaSecret" . }}
      key: {{ $root.Values.kafka.auth.usernameKey }}
- name: SIGHTLINE_KAFKA__SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "sightline.kafkaSecret" . }}
      key: {{ $root.Values.kafka.auth.passwordKey }}
{{- end }}
{{- end }}
{{- if include "sightline.kafkaCaSecret" $root }}
- name: SIGHTLINE_KAFKA__SSL_CAFILE
  value: /etc/sightline/kafka-ca/ca.crt
{{- end }}
{{- with include "sightline.kafkaClientCert" . | splitList "/" }}
{{- if eq (len .) 3 }}
- name: SIGHTLINE_KAFKA__SSL_CERTFILE
  value: /etc/sightline/kafka-client/{{ index . 1 }}
- name: SIGHTLINE_KAFKA__SSL_KEYFILE
  value: /etc/sightline/kafka-client/{{ index . 2 }}
{{- end }}
{{- end }}
- name: SIGHTLINE_S3__ENDPOINT
  value: {{ required "s3.endpoint is required" $root.Values.s3.endpoint | quote }}
- name: SIGHTLINE_S3__SECURE
  value: {{ $root.Values.s3.secure | quote }}
- name: SIGHTLINE_S3__REGION
  value: {{ $root.Values.s3.region | quote }}
- name: SIGHTLINE_S3__RAW_BUCKET
  value: {{ $root.Values.s3.rawBucket | quote }}
- name: SIGHTLINE_S3__WORK_BUCKET
  value: {{ $root.Values.s3.workBucket | quote }}
- name: SIGHTLINE_S3__REPORT_BUCKET
  value: {{ $root.Values.s3.reportBucket | quote }}
- name: SIGHTLINE_S3__KEYS_BUCKET
  value: {{ $root.Values.s3.keysBucket | quote }}
{{- with (include "sightline.kekRef" $root) }}
- name: SIGHTLINE_S3__KEK_REF
  value: {{ . | quote }}
{{- end }}
- name: SIGHTLINE_S3__LIFECYCLE_DAYS
  value: {{ $root.Values.s3.lifecycleDays | quote }}
{{- if $root.Values.s3.caSecret }}
- name: SIGHTLINE_S3__CA_FILE
  value: /etc/sightline/s3-ca/ca.crt
{{- end }}
{{- if $root.Values.s3.auth.workloadIdentity }}
- name: SIGHTLINE_S3__CREDENTIALS
  value: environment
{{- else }}
- name: SIGHTLINE_S3__ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "sightline.s3Secret" . }}
      key: {{ $root.Values.s3.auth.accessKeyKey }}
- name: SIGHTLINE_S3__SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "sightline.s3Secret" . }}
      key: {{ $root.Values.s3.auth.secretKeyKey }}
{{- end }}
- name: SIGHTLINE_CLICKHOUSE__DSN
  valueFrom:
    secretKeyRef:
      name: {{ include "sightline.clickhouseSecret" . }}
      key: {{ $root.Values.clickhouse.dsnKey }}
- name: SIGHTLINE_CLICKHOUSE__DATABASE
  value: {{ $root.Values.clickhouse.database | quote }}
{{- with $root.Values.clickhouse }}
{{- if or .replicated .sharded }}
{{- if not .cluster }}
{{- fail "clickhouse.replicated and clickhouse.sharded need clickhouse.cluster (the cluster the migrations run ON CLUSTER)" }}
{{- end }}
{{- end }}
{{- if .cluster }}
- name: SIGHTLINE_CLICKHOUSE__CLUSTER
  value: {{ .cluster | quote }}
- name: SIGHTLINE_CLICKHOUSE__REPLICATED
  value: {{ .replicated | quote }}
- name: SIGHTLINE_CLICKHOUSE__SHARDED
  value: {{ .sharded | quote }}
{{- end }}
{{- if .backupUrl }}
- name: SIGHTLINE_CLICKHOUSE__BACKUP_URL
  value: {{ .backupUrl | quote }}
{{- end }}
{{- end }}
{{- if $root.Values.clickhouse.caSecret }}
- name: SIGHTLINE_CLICKHOUSE__CA_FILE
  value: /etc/sightline/clickhouse-ca/ca.crt
{{- end }}
{{- if $root.Values.identity.tokens.existingSecret }}
- name: SIGHTLINE_IDENTITY__TOKENS_JSON
  valueFrom:
    secretKeyRef:
      name: {{ $root.Values.identity.tokens.existingSecret }}
      key: {{ $root.Values.identity.tokens.key }}
{{- end }}
- name: SIGHTLINE_OBSERVABILITY__LOG_LEVEL
  value: {{ $root.Values.logLevel | quote }}
- name: SIGHTLINE_OBSERVABILITY__LOG_FORMAT
  value: json
- name: SIGHTLINE_STACK__HOME
  value: /tmp/sightline
{{- end -}}

{{/*
Secrets mounted in every pod, as (volume name, secret, mount path) triples: CA bundles of Kafka, S3 and
ClickHouse, the Kafka client certificate. Call with (dict "root" $ "hook" bool): the hook Jobs run before the
release's KafkaUser exists, so they get no credentials of it (the migrations need no Kafka; with that user the
topics Job gives way to KafkaTopics).
*/}}
{{- define "sightline.secretMounts" -}}
{{- $root := .root -}}
{{- $mounts := list -}}
{{- with include "sightline.kafkaCaSecret" $root -}}
{{- $mounts = append $mounts (list "kafka-ca" . "/etc/sightline/kafka-ca") -}}
{{- end -}}
{{- with include "sightline.kafkaClientCert" .  -}}
{{- $mounts = append $mounts (list "kafka-client" (first (splitList "/" .)) "/etc/sightline/kafka-client") -}}
{{- end -}}
{{- with $root.Values.s3.caSecret -}}
{{- $mounts = append $mounts (list "s3-ca" . "/etc/sightline/s3-ca") -}}
{{- end -}}
{{- with $root.Values.clickhouse.caSecret -}}
{{- $mounts = append $mounts (list "clickhouse-ca" . "/etc/sightline/clickhouse-ca") -}}
{{- end -}}
{{- toJson $mounts -}}
{{- end -}}

{{/* Volumes every pod gets (call like secretMounts): the root filesystem is read-only, these are the writable places. */}}
{{- define "sightline.scratchVolumes" -}}
{{- $root := .root -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ $root.Values.tmpSizeLimit }}
{{- range include "sightline.secretMounts" . | fromJsonArray }}
- name: {{ index . 0 }}
  secret:
    secretName: {{ index . 1 }}
{{- end }}
{{- if $root.Values.s3.encryption.kekSecret }}
- name: kek
  secret:
    secretName: {{ $root.Values.s3.encryption.kekSecret }}
    defaultMode: 0400
{{- end }}
{{- with $root.Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "sightline.scratchMounts" -}}
{{- $root := .root -}}
- name: tmp
  mountPath: /tmp
{{- range include "sightline.secretMounts" . | fromJsonArray }}
- name: {{ index . 0 }}
  mountPath: {{ index . 2 }}
  readOnly: true
{{- end }}
{{- if $root.Values.s3.encryption.kekSecret }}
- name: kek
  mountPath: /etc/sightline/kek
  readOnly: true
{{- end }}
{{- with $root.Values.extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The key-encryption key reference: the values' own, else the file of the mounted kekSecret. */}}
{{- define "sightline.kekRef" -}}
{{- if .Values.s3.encryption.kekRef -}}
{{ .Values.s3.encryption.kekRef }}
{{- else if .Values.s3.encryption.kekSecret -}}
file:/etc/sightline/kek/kek
{{- end -}}
{{- end -}}

{{- define "sightline.competencyConfigMap" -}}
{{- default (include "sightline.componentName" (dict "root" . "suffix" "competency-models")) .Values.competencyModels.existingConfigMap -}}
{{- end -}}

{{/*
Whole CPUs of a container's limit ("4" → 4, "1500m" → 2), for thread pools: inside a container the
libraries see the node's cores, and sizing their pools to those oversubscribes the limit.
*/}}
{{- define "sightline.cpuThreads" -}}
{{- $cpu := toString . -}}
{{- if hasSuffix "m" $cpu -}}
{{- div (add (trimSuffix "m" $cpu | int) 999) 1000 -}}
{{- else -}}
{{- ceil (float64 $cpu) | int -}}
{{- end -}}
{{- end -}}

{{/* Whether the chart writes a credentials Secret at all: only for credentials without an existing one. */}}
{{- define "sightline.needsCredentialsSecret" -}}
{{- $c := include "sightline.chartCredentials" . | fromJson -}}
{{- if or $c.kafka $c.s3 $c.clickhouse -}}true{{- end -}}
{{- end -}}

{{/* Which credentials the chart's Secret holds: those given as values, not in an existing Secret or an identity. */}}
{{- define "sightline.chartCredentials" -}}
{{- $kafka := and (include "sightline.kafkaUsesSasl" .) (not .Values.kafka.auth.existingSecret) (not (include "sightline.kafkaStrimziScram" .)) -}}
{{- $s3 := not (or .Values.s3.auth.existingSecret .Values.s3.auth.workloadIdentity) -}}
{{- toJson (dict "kafka" $kafka "s3" $s3 "clickhouse" (not .Values.clickhouse.existingSecret)) -}}
{{- end -}}

{{/* The body of the chart's credentials Secret (the release's and the Jobs' copy are the same). */}}
{{- define "sightline.credentialsSecretBody" -}}
{{- $c := include "sightline.chartCredentials" . | fromJson }}
{{- $needsKafka := $c.kafka }}
{{- $needsS3 := $c.s3 }}
{{- $needsClickHouse := $c.clickhouse -}}
type: Opaque
stringData:
  {{- if $needsKafka }}
  {{ .Values.kafka.auth.usernameKey }}: {{ required "kafka.auth.username is required with SASL (or set kafka.auth.existingSecret)" .Values.kafka.auth.username | quote }}
  {{ .Values.kafka.auth.passwordKey }}: {{ required "kafka.auth.password is required with SASL (or set kafka.auth.existingSecret)" .Values.kafka.auth.password | quote }}
  {{- end }}
  {{- if $needsS3 }}
  {{ .Values.s3.auth.accessKeyKey }}: {{ required "s3.auth.accessKey is required (or set s3.auth.existingSecret)" .Values.s3.auth.accessKey | quote }}
  {{ .Values.s3.auth.secretKeyKey }}: {{ required "s3.auth.secretKey is required (or set s3.auth.existingSecret)" .Values.s3.auth.secretKey | quote }}
  {{- end }}
  {{- if $needsClickHouse }}
  {{ .Values.clickhouse.dsnKey }}: {{ required "clickhouse.dsn is required (or set clickhouse.existingSecret)" .Values.clickhouse.dsn | quote }}
  {{- end }}
{{- end -}}


{{/* Whether the topics Job runs: wanted, and Strimzi's Topic Operator does not own the topics instead. */}}
{{- define "sightline.topicsJob" -}}
{{- if and .Values.jobs.topics.enabled (not .Values.kafka.strimzi.topics.enabled) -}}true{{- end -}}
{{- end -}}

{{/* Kafka settings that only work together. */}}
{{- define "sightline.validateKafka" -}}
{{- $kafka := .Values.kafka -}}
{{- $protocol := $kafka.securityProtocol -}}
{{- if and $kafka.tls.clientSecret (not (include "sightline.kafkaUsesTls" .)) -}}
{{- fail (printf "kafka.tls.clientSecret is a TLS client certificate, but kafka.securityProtocol is %s: use SSL (or SASL_SSL)" $protocol) -}}
{{- end -}}
{{- if $kafka.strimzi.user.enabled -}}
{{- if include "sightline.topicsJob" . -}}
{{- fail "kafka.strimzi.user.enabled: the topics Job runs before the release's KafkaUser exists and could not authenticate; set kafka.strimzi.topics.enabled (or jobs.topics.enabled=false and create the topics yourself)" -}}
{{- end -}}
{{- if and (eq $kafka.strimzi.user.authentication "tls") (ne $protocol "SSL") -}}
{{- fail (printf "kafka.strimzi.user.authentication tls authenticates with a client certificate: set kafka.securityProtocol to SSL, not %s" $protocol) -}}
{{- end -}}
{{- if and (eq $kafka.strimzi.user.authentication "scram-sha-512") (or (not (include "sightline.kafkaUsesSasl" .)) (ne $kafka.saslMechanism "SCRAM-SHA-512")) -}}
{{- fail "kafka.strimzi.user.authentication scram-sha-512 needs kafka.securityProtocol SASL_SSL (or SASL_PLAINTEXT) and kafka.saslMechanism SCRAM-SHA-512" -}}
{{- end -}}
{{- end -}}
{{- if $kafka.strimzi.topics.enabled -}}
{{- $replicas := int $kafka.replicationFactor -}}
{{- $insync := int $kafka.minInsyncReplicas -}}
{{- if gt $insync $replicas -}}
{{- fail (printf "kafka.minInsyncReplicas (%d) is above kafka.replicationFactor (%d): no acks=all produce could ever succeed" $insync $replicas) -}}
{{- end -}}
{{- if and (gt $replicas 1) (eq $insync $replicas) -}}
{{- fail (printf "kafka.minInsyncReplicas equals kafka.replicationFactor (%d): every broker restart would stop acks=all produces; use %d" $replicas (sub $replicas 1)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
