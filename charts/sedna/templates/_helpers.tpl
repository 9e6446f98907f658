{{/* Chart name (nameOverride wins). */}}
{{- define "sedna.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name prefix of every object: fullnameOverride, else the release name when it already
contains the chart name (so `helm install sedna` gives sedna-operator, sedna-lc, sedna-kb),
else <release>-<chart>.
*/}}
{{- define "sedna.fullname" -}}
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

{{/* <fullname>-<component>, e.g. sedna-operator. Call with (dict "root" $ "component" "operator"). */}}
{{- define "sedna.componentName" -}}
{{- printf "%s-%s" (include "sedna.fullname" .root | trunc 50 | trimSuffix "-") .component }}
{{- end }}

{{- define "sedna.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of a component. Call with (dict "root" $ "component" "lc"). */}}
{{- define "sedna.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sedna.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Common labels of a component. Call with (dict "root" $ "component" "lc"). */}}
{{- define "sedna.labels" -}}
helm.sh/chart: {{ include "sedna.chart" .root }}
{{ include "sedna.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: sedna
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* repository:tag of an image entry; the tag defaults to the chart's appVersion. Call with (dict "root" $ "image" .Values.images.lc). */}}
{{- define "sedna.image" -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag | toString) }}
{{- end }}

{{/* ServiceAccount name of a component. Call with (dict "root" $ "component" "lc" "sa" .Values.lc.serviceAccount). */}}
{{- define "sedna.serviceAccountName" -}}
{{- if .sa.create }}
{{- default (include "sedna.componentName" .) .sa.name }}
{{- else }}
{{- default "default" .sa.name }}
{{- end }}
{{- end }}

{{/* URL of the knowledge base Service as workers and the operator see it. */}}
{{- define "sedna.kbServer" -}}
{{- printf "http://%s.%s:%v" .Values.kb.service.name .Release.Namespace .Values.kb.service.port }}
{{- end }}

{{/* True (non-empty) when the knowledge base uses an external database instead of SQLite. */}}
{{- define "sedna.kb.externalDatabase" -}}
{{- if or .Values.kb.databaseUrl .Values.kb.existingSecret.name }}true{{- end }}
{{- end }}

{{/* Name of the knowledge base PVC. */}}
{{- define "sedna.kb.claimName" -}}
{{- default (printf "%s-data" (include "sedna.componentName" (dict "root" . "component" "kb"))) .Values.kb.persistence.existingClaim }}
{{- end }}

{{/* Name of the Secret holding SEDNA_LC_SECRET (the key of the per-job worker report tokens). */}}
{{/* Secret of the market's write token(s): the chart's own, or kb.auth.existingSecret. */}}
{{- define "sedna.kbAuth.secretName" -}}
{{- default (printf "%s-auth" (include "sedna.componentName" (dict "root" . "component" "kb"))) .Values.kb.auth.existingSecret }}
{{- end }}

{{- define "sedna.lcAuth.secretName" -}}
{{- default (printf "%s-report-auth" (include "sedna.componentName" (dict "root" . "component" "lc"))) .Values.lc.reportAuth.existingSecret }}
{{- end }}

{{/* The SEDNA_LC_SECRET env entry of the operator and the LC (empty when reportAuth is off). */}}
{{- define "sedna.lcAuth.env" -}}
{{- if .Values.lc.reportAuth.enabled }}
- name: SEDNA_LC_SECRET
  valueFrom:
    secretKeyRef:
      name: {{ include "sedna.lcAuth.secretName" . }}
      key: {{ .Values.lc.reportAuth.secretKey }}
{{- end }}
{{- end }}

{{/* Host directory of relative manifest paths (SEDNA_RELATIVE_PATH_ROOT of the operator and the LC). */}}
{{- define "sedna.relativePathRoot" -}}
{{- default (printf "%s/workspace" (trimSuffix "/" .Values.lc.dataDir)) .Values.relativePathRoot }}
{{- end }}
