{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "llmroute.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the release name, prefixed with the chart name unless it already contains it. Webhook and
Service names derive from it, so it leaves room for their suffixes. */}}
{{- define "llmroute.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 48 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 48 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 48 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "llmroute.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "llmroute.selectorLabels" -}}
app.kubernetes.io/name: {{ include "llmroute.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "llmroute.labels" -}}
helm.sh/chart: {{ include "llmroute.chart" . }}
{{ include "llmroute.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: llmroute
{{- end }}

{{- define "llmroute.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "llmroute.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "llmroute.operatorImage" -}}
{{- printf "%s:%s" .Values.operator.image.repository (default .Chart.AppVersion .Values.operator.image.tag) }}
{{- end }}

{{- define "llmroute.routerImage" -}}
{{- printf "%s:%s" .Values.router.image.repository (default .Chart.AppVersion .Values.router.image.tag) }}
{{- end }}

{{- define "llmroute.webhookService" -}}
{{- printf "%s-webhook" (include "llmroute.fullname" .) }}
{{- end }}

{{/* The Secret holding the webhook serving certificate, written by the operator or by cert-manager. */}}
{{- define "llmroute.webhookCertSecret" -}}
{{- printf "%s-webhook-cert" (include "llmroute.fullname" .) }}
{{- end }}

{{- define "llmroute.certManager" -}}
{{- if and .Values.webhook.enabled (eq .Values.webhook.certificates.mode "cert-manager") }}true{{ end }}
{{- end }}

{{/* Restricted Pod Security for a container. */}}
{{- define "llmroute.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}
