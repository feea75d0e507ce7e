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
  "frames" "sightline.media-ingested.v1"
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

{{/* Where each credential lives: the chart's Secret or an existing one; called like credentialsSecret. */}}
{{- define "sightline.kafkaSecret" -}}
{{- default (include "sightline.credentialsSecret" .) .root.Values.kafka.auth.existingSecret -}}
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
{{- if include "sightline.kafkaUsesSasl" $root }}
- name: SIGHTLINE_KAFKA__SASL_MECHANISM
  value: {{ $root.Values.kafka.saslMechanism | quote }}
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
{{- if and (include "sightline.kafkaUsesTls" $root) $root.Values.kafka.caSecret }}
- name: SIGHTLINE_KAFKA__SSL_CAFILE
  value: /etc/sightline/kafka-ca/ca.crt
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
- name: SIGHTLINE_CLICKHOUSE__DSN
  valueFrom:
    secretKeyRef:
      name: {{ include "sightline.clickhouseSecret" . }}
      key: {{ $root.Values.clickhouse.dsnKey }}
- name: SIGHTLINE_CLICKHOUSE__DATABASE
  value: {{ $root.Values.clickhouse.database | quote }}
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

{{/* Volumes every pod gets: the root filesystem is read-only, these are the writable places. */}}
{{- define "sightline.scratchVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpSizeLimit }}
{{- if and (include "sightline.kafkaUsesTls" .) .Values.kafka.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.caSecret }}
{{- end }}
{{- if .Values.s3.encryption.kekSecret }}
- name: kek
  secret:
    secretName: {{ .Values.s3.encryption.kekSecret }}
    defaultMode: 0400
{{- end }}
{{- with .Values.extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "sightline.scratchMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if and (include "sightline.kafkaUsesTls" .) .Values.kafka.caSecret }}
- name: kafka-ca
  mountPath: /etc/sightline/kafka-ca
  readOnly: true
{{- end }}
{{- if .Values.s3.encryption.kekSecret }}
- name: kek
  mountPath: /etc/sightline/kek
  readOnly: true
{{- end }}
{{- with .Values.extraVolumeMounts }}
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
{{- $needsKafka := and (include "sightline.kafkaUsesSasl" .) (not .Values.kafka.auth.existingSecret) -}}
{{- if or $needsKafka (not .Values.s3.auth.existingSecret) (not .Values.clickhouse.existingSecret) -}}true{{- end -}}
{{- end -}}

{{/* The body of the chart's credentials Secret (the release's and the Jobs' copy are the same). */}}
{{- define "sightline.credentialsSecretBody" -}}
{{- $needsKafka := and (include "sightline.kafkaUsesSasl" .) (not .Values.kafka.auth.existingSecret) }}
{{- $needsS3 := not .Values.s3.auth.existingSecret }}
{{- $needsClickHouse := not .Values.clickhouse.existingSecret -}}
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
