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

{{- define "sightline.serviceName" -}}
{{- printf "%s-%s" (include "sightline.fullname" .root) .service | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sightline.credentialsSecret" -}}
{{- printf "%s-credentials" (include "sightline.fullname" .) -}}
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
  "sink" "sightline.media-ingested.v1,sightline.vision-features.v1,sightline.speech-results.v1,sightline.profile-ready.v1,sightline.candidate-demographics.v1,sightline.stage-status.v1,sightline.review-decision.v1,sightline.candidate-outcome.v1,sightline.dead-letter.ingest.v1,sightline.dead-letter.frames.v1,sightline.dead-letter.vision.v1,sightline.dead-letter.speech.v1,sightline.dead-letter.fusion.v1,sightline.dead-letter.sink.v1"
-}}
{{- get $topics .service -}}
{{- end -}}

{{/*
The consumer group reading one input topic; call with (dict "root" $ "service" "sink" "topic" "..."). The
sink reads stage-status in a group of its own (its status reader), the dead-letter topics in another (its
dead-letter reader), everything else in the service's group.
*/}}
{{- define "sightline.consumerGroupFor" -}}
{{- $svc := get .root.Values.services .service -}}
{{- if and (eq .service "sink") (eq .topic "sightline.stage-status.v1") -}}
{{- $svc.statusConsumerGroup -}}
{{- else if and (eq .service "sink") (hasPrefix "sightline.dead-letter." .topic) -}}
{{- $svc.deadLetterConsumerGroup -}}
{{- else -}}
{{- $svc.consumerGroup -}}
{{- end -}}
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

{{- define "sightline.image" -}}
{{- $img := .root.Values.image -}}
{{- $tag := default .root.Chart.AppVersion $img.tag -}}
{{- if .gpu -}}
{{- $tag = default (printf "%s-cuda" $tag) $img.cudaTag -}}
{{- end -}}
{{- printf "%s/%s:%s" $img.registry $img.repository $tag -}}
{{- end -}}

{{- define "sightline.kafkaUsesSasl" -}}
{{- if hasPrefix "SASL" .Values.kafka.securityProtocol -}}true{{- end -}}
{{- end -}}

{{- define "sightline.kafkaUsesTls" -}}
{{- if has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL") -}}true{{- end -}}
{{- end -}}

{{/* Where each credential lives: the chart's Secret or an existing one. */}}
{{- define "sightline.kafkaSecret" -}}
{{- default (include "sightline.credentialsSecret" .) .Values.kafka.auth.existingSecret -}}
{{- end -}}
{{- define "sightline.s3Secret" -}}
{{- default (include "sightline.credentialsSecret" .) .Values.s3.auth.existingSecret -}}
{{- end -}}
{{- define "sightline.clickhouseSecret" -}}
{{- default (include "sightline.credentialsSecret" .) .Values.clickhouse.existingSecret -}}
{{- end -}}

{{/* Connection settings of every container (services and hook Jobs). */}}
{{- define "sightline.connectionEnv" -}}
- name: SIGHTLINE_ENVIRONMENT
  value: {{ .Values.environment | quote }}
- name: SIGHTLINE_KAFKA__BOOTSTRAP_SERVERS
  value: {{ required "kafka.bootstrapServers is required" .Values.kafka.bootstrapServers | quote }}
- name: SIGHTLINE_KAFKA__SECURITY_PROTOCOL
  value: {{ .Values.kafka.securityProtocol | quote }}
- name: SIGHTLINE_KAFKA__TOPIC_PREFIX
  value: {{ .Values.kafka.topicPrefix | quote }}
{{- if include "sightline.kafkaUsesSasl" . }}
- name: SIGHTLINE_KAFKA__SASL_MECHANISM
  value: {{ .Values.kafka.saslMechanism | quote }}
- name: SIGHTLINE_KAFKA__SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ include "sightline.kafkaSecret" . }}
      key: {{ .Values.kafka.auth.usernameKey }}
- name: SIGHTLINE_KAFKA__SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "sightline.kafkaSecret" . }}
      key: {{ .Values.kafka.auth.passwordKey }}
{{- end }}
{{- if and (include "sightline.kafkaUsesTls" .) .Values.kafka.caSecret }}
- name: SIGHTLINE_KAFKA__SSL_CAFILE
  value: /etc/sightline/kafka-ca/ca.crt
{{- end }}
- name: SIGHTLINE_S3__ENDPOINT
  value: {{ required "s3.endpoint is required" .Values.s3.endpoint | quote }}
- name: SIGHTLINE_S3__SECURE
  value: {{ .Values.s3.secure | quote }}
- name: SIGHTLINE_S3__REGION
  value: {{ .Values.s3.region | quote }}
- name: SIGHTLINE_S3__RAW_BUCKET
  value: {{ .Values.s3.rawBucket | quote }}
- name: SIGHTLINE_S3__WORK_BUCKET
  value: {{ .Values.s3.workBucket | quote }}
- name: SIGHTLINE_S3__REPORT_BUCKET
  value: {{ .Values.s3.reportBucket | quote }}
- name: SIGHTLINE_S3__ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "sightline.s3Secret" . }}
      key: {{ .Values.s3.auth.accessKeyKey }}
- name: SIGHTLINE_S3__SECRET_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "sightline.s3Secret" . }}
      key: {{ .Values.s3.auth.secretKeyKey }}
- name: SIGHTLINE_CLICKHOUSE__DSN
  valueFrom:
    secretKeyRef:
      name: {{ include "sightline.clickhouseSecret" . }}
      key: {{ .Values.clickhouse.dsnKey }}
- name: SIGHTLINE_CLICKHOUSE__DATABASE
  value: {{ .Values.clickhouse.database | quote }}
- name: SIGHTLINE_OBSERVABILITY__LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
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
{{- end -}}

{{- define "sightline.scratchMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if and (include "sightline.kafkaUsesTls" .) .Values.kafka.caSecret }}
- name: kafka-ca
  mountPath: /etc/sightline/kafka-ca
  readOnly: true
{{- end }}
{{- end -}}

{{- define "sightline.competencyConfigMap" -}}
{{- default (printf "%s-competency-models" (include "sightline.fullname" .)) .Values.competencyModels.existingConfigMap -}}
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
