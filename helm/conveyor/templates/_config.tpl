{{/*
conveyor.cfg (libconfig) from values: kafka from .Values.kafka, the topology
path where the ConfigMap is mounted, and every section of .Values.config,
with a domain group's own config merged over it. Keys and bounds are those
of config/conveyor.cfg; the binary refuses an unknown key with file:line,
values.schema.json earlier. Arguments: root, overrides (may be empty).
*/}}
{{- define "conveyor.configFile" -}}
{{- $root := .root -}}
{{- $cfg := deepCopy $root.Values.config -}}
{{- if .overrides -}}
{{- $cfg = mustMergeOverwrite $cfg (deepCopy .overrides) -}}
{{- end -}}
# conveyor.cfg, rendered by the conveyor Helm chart from its values. No
# secret is written here: DATABASE_URL and the tokens come from Secrets
# through the environment.
kafka = {
    brokers = {{ $root.Values.kafka.brokers | quote }};
    properties = (
{{- $props := $root.Values.kafka.properties | default dict -}}
{{- $names := keys $props | sortAlpha -}}
{{- range $i, $name := $names }}
        [{{ $name | quote }}, {{ index $props $name | toString | quote }}]{{ if lt (add1 $i) (len $names) }},{{ end }}
{{- end }}
    );
};
topology = {
    path = "/etc/conveyor/topology.cfg";
};
{{- range $section := keys $cfg | sortAlpha }}
{{ $section }} = {
{{- $settings := index $cfg $section -}}
{{- range $key := keys $settings | sortAlpha }}
    {{ $key }} = {{ include "conveyor.libconfigValue" (index $settings $key) }};
{{- end }}
};
{{- end }}
{{- end -}}

{{/* One libconfig scalar: a string quoted, a whole number without a
fraction (YAML numbers arrive as float64), a boolean. */}}
{{- define "conveyor.libconfigValue" -}}
{{- if kindIs "bool" . -}}
{{- ternary "true" "false" . -}}
{{- else if or (kindIs "float64" .) (kindIs "int" .) (kindIs "int64" .) -}}
{{- if eq (float64 .) (floor .) -}}{{ int64 . }}{{- else -}}{{ . }}{{- end -}}
{{- else -}}
{{- toString . | quote -}}
{{- end -}}
{{- end -}}

{{/* The ConfigMap key of a domain group's config file. */}}
{{- define "conveyor.groupConfigFile" -}}
{{- if .config -}}
{{- printf "conveyor-%s.cfg" .name -}}
{{- else -}}
conveyor.cfg
{{- end -}}
{{- end -}}

{{/* The effective consumer.shutdown_timeout_ms of a domain group. */}}
{{- define "conveyor.shutdownTimeoutMs" -}}
{{- $ms := .root.Values.config.consumer.shutdown_timeout_ms -}}
{{- if and .group.config .group.config.consumer -}}
{{- if hasKey .group.config.consumer "shutdown_timeout_ms" -}}
{{- $ms = .group.config.consumer.shutdown_timeout_ms -}}
{{- end -}}
{{- end -}}
{{- int64 $ms -}}
{{- end -}}

{{- define "conveyor.topology" -}}
{{- if .Values.topology.content -}}
{{- .Values.topology.content -}}
{{- else -}}
{{- .Files.Get "files/topology.cfg" -}}
{{- end -}}
{{- end -}}
