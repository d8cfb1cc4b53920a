{{- define "agent-api.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "agent-api.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "agent-api.selectorLabels" -}}
app.kubernetes.io/name: {{ include "agent-api.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "agent-api.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "agent-api.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "agent-api.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "agent-api.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The pod's grace period: the pre-stop delay + the server's 25 s exit deadline + 5 s margin. */}}
{{- define "agent-api.terminationGracePeriodSeconds" -}}
{{- $minimum := add (int .Values.shutdown.preStopDelaySeconds) 25 }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $minimum 5 }}
{{- else if lt (int .Values.terminationGracePeriodSeconds) (int $minimum) }}
{{- fail (printf "terminationGracePeriodSeconds must be at least %d (preStopDelaySeconds + the server's 25 s shutdown deadline)" $minimum) }}
{{- else }}
{{- .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* Checks that settings which cannot work are refused at install time, not at the first agent. */}}
{{- define "agent-api.validate" -}}
{{- if not (or .Values.database.url .Values.database.existingSecret) }}
{{- fail "database.url or database.existingSecret is required: replicas share one PostgreSQL (the embedded database is for a single container)" }}
{{- end }}
{{- if not .Values.publicOpampUrl }}
{{- fail "publicOpampUrl is required: the URL agents can reach, e.g. wss://agent-api.example.com/v1/opamp" }}
{{- end }}
{{- if and (eq .Values.kms.provider "local") (not (or .Values.kms.local.key .Values.kms.local.existingSecret)) }}
{{- fail "kms.local.key or kms.local.existingSecret is required with kms.provider=local: every replica needs the same master key" }}
{{- end }}
{{- if and (eq .Values.kms.provider "aws") (not .Values.kms.aws.keyId) }}
{{- fail "kms.aws.keyId is required with kms.provider=aws" }}
{{- end }}
{{- if not (has .Values.kms.provider (list "local" "aws")) }}
{{- fail "kms.provider must be local or aws" }}
{{- end }}
{{- end }}
