{{/*
Names, labels and the pieces every Conveyor pod shares. Kubernetes names
are cut to 63 characters (DNS labels).
*/}}

{{- define "conveyor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "conveyor.fullname" -}}
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

{{/* FULLNAME-SUFFIX, the suffix kept whole when the name is cut */}}
{{- define "conveyor.componentName" -}}
{{- $suffix := .suffix -}}
{{- $room := sub 62 (len $suffix) | int -}}
{{- printf "%s-%s" (include "conveyor.fullname" .root | trunc $room | trimSuffix "-") $suffix -}}
{{- end -}}

{{- define "conveyor.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "conveyor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "conveyor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "conveyor.labels" -}}
helm.sh/chart: {{ include "conveyor.chart" . }}
{{ include "conveyor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: conveyor
{{- end -}}

{{/* Labels of one component (a domain group, ticker, migrate). */}}
{{- define "conveyor.componentLabels" -}}
{{ include "conveyor.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "conveyor.componentSelectorLabels" -}}
{{ include "conveyor.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The pods that serve HTTP (the Service and ServiceMonitor select them;
the migration Job's pod does not serve). */}}
{{- define "conveyor.httpSelectorLabels" -}}
{{ include "conveyor.selectorLabels" . }}
conveyor/http: "true"
{{- end -}}

{{- define "conveyor.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "conveyor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "conveyor.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "conveyor.configMapName" -}}
{{- include "conveyor.componentName" (dict "root" . "suffix" "config") -}}
{{- end -}}

{{/* The consumer groups of a domain group: autoscaling.consumerGroups, or
conveyor.DOMAIN for each domain (the topology's default group name). */}}
{{- define "conveyor.consumerGroups" -}}
{{- $as := include "conveyor.autoscaling" . | fromJson -}}
{{- if $as.consumerGroups -}}
{{- toJson $as.consumerGroups -}}
{{- else -}}
{{- $groups := list -}}
{{- range .domains }}{{ $groups = append $groups (printf "conveyor.%s" .) }}{{ end -}}
{{- toJson $groups -}}
{{- end -}}
{{- end -}}

{{/*
The environment every Conveyor container gets: the config file, the HTTP
listener, and the secrets, by reference only. Arguments: root, configFile,
extraEnv (the component's own).
*/}}
{{- define "conveyor.env" -}}
{{- $v := .root.Values -}}
- name: CONVEYOR_CONFIG
  value: {{ printf "/etc/conveyor/%s" .configFile | quote }}
- name: CONVEYOR_HTTP_LISTEN
  value: {{ printf "0.0.0.0:%d" (int $v.http.port) | quote }}
{{ include "conveyor.secretEnv" .root }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- with .extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Environment variables from Secrets: DATABASE_URL, the tokens, secretEnv. */}}
{{- define "conveyor.secretEnv" -}}
{{- $v := .Values -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $v.database.existingSecret | quote }}
      key: {{ $v.database.key | quote }}
{{- with $v.adminToken.existingSecret }}
- name: CONVEYOR_ADMIN_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . | quote }}
      key: {{ $v.adminToken.key | quote }}
{{- end }}
{{- with $v.readonlyToken.existingSecret }}
- name: CONVEYOR_READONLY_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ . | quote }}
      key: {{ $v.readonlyToken.key | quote }}
{{- end }}
{{- range $v.secretEnv }}
- name: {{ .name | quote }}
  valueFrom:
    secretKeyRef:
      name: {{ .secretName | quote }}
      key: {{ .key | quote }}
      {{- if hasKey . "optional" }}
      optional: {{ .optional }}
      {{- end }}
{{- end }}
{{- end -}}

{{- define "conveyor.affinity" -}}
{{- if .root.Values.affinity -}}
{{ toYaml .root.Values.affinity }}
{{- else -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "conveyor.componentSelectorLabels" . | nindent 12 }}
{{- end -}}
{{- end -}}

{{/*
The pod template of a Conveyor Deployment. Arguments: root, component,
args (conveyor's arguments), configFile, resources, extraEnv, grace.
*/}}
{{- define "conveyor.podTemplate" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
metadata:
  annotations:
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  labels:
    {{- include "conveyor.componentLabels" . | nindent 4 }}
    conveyor/http: "true"
    {{- with $v.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "conveyor.serviceAccountName" $root }}
  automountServiceAccountToken: false
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .grace }}
  securityContext:
    {{- toYaml $v.podSecurityContext | nindent 4 }}
  {{- with $v.priorityClassName }}
  priorityClassName: {{ . | quote }}
  {{- end }}
  containers:
    - name: conveyor
      image: {{ include "conveyor.image" $root | quote }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      args:
        {{- toYaml .args | nindent 8 }}
      env:
        {{- include "conveyor.env" (dict "root" $root "configFile" .configFile "extraEnv" .extraEnv) | nindent 8 }}
      ports:
        - name: http
          containerPort: {{ $v.http.port }}
          protocol: TCP
      livenessProbe:
        httpGet:
          path: /healthz
          port: http
        {{- toYaml $v.probes.liveness | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: http
        {{- toYaml $v.probes.readiness | nindent 8 }}
      resources:
        {{- toYaml .resources | nindent 8 }}
      securityContext:
        {{- toYaml $v.securityContext | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: /etc/conveyor
          readOnly: true
        - name: tmp
          mountPath: /tmp
        {{- with $v.extraVolumeMounts }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "conveyor.configMapName" $root }}
    - name: tmp
      emptyDir:
        sizeLimit: 16Mi
    {{- with $v.extraVolumes }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  affinity:
    {{- include "conveyor.affinity" . | nindent 4 }}
  {{- with $v.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $v.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/*
Optional APIs: the ServiceMonitor, PrometheusRule and ScaledObjects are
rendered only where the cluster offers their API (helm template: pass
--api-versions monitoring.coreos.com/v1 / keda.sh/v1alpha1); NOTES.txt warns
when one is enabled but missing, and an autoscaled group then keeps a fixed
replica count.
*/}}
{{- define "conveyor.hasMonitoring" -}}
{{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}true{{ end -}}
{{- end -}}

{{/* "true" when a domain group is scaled by KEDA. Arguments: root, group. */}}
{{- define "conveyor.kedaScaled" -}}
{{- $as := include "conveyor.autoscaling" .group | fromJson -}}
{{- if and $as.enabled (.root.Capabilities.APIVersions.Has "keda.sh/v1alpha1") }}true{{ end -}}
{{- end -}}

{{/* Replicas of a group without KEDA: replicas, else autoscaling.minReplicas
when autoscaling was asked for, else 1. */}}
{{- define "conveyor.fixedReplicas" -}}
{{- $as := include "conveyor.autoscaling" . | fromJson -}}
{{- if hasKey . "replicas" -}}{{ int .replicas }}
{{- else if $as.enabled -}}{{ max 1 (int $as.minReplicas) }}
{{- else -}}1
{{- end -}}
{{- end -}}

{{/* A domain group's autoscaling settings with their defaults, as JSON:
list items do not inherit values.yaml, so the defaults live here. */}}
{{- define "conveyor.autoscaling" -}}
{{- $defaults := dict "enabled" false "minReplicas" 1 "lagThreshold" 1000 "trigger" "prometheus" "consumerGroups" list -}}
{{- $as := mustMergeOverwrite $defaults (deepCopy (.autoscaling | default dict)) -}}
{{- if not $as.maxReplicas -}}{{- $_ := set $as "maxReplicas" $as.partitions -}}{{- end -}}
{{- toJson $as -}}
{{- end -}}
