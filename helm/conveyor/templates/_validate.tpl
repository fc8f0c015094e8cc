{{/*
Rules across values that values.schema.json cannot say. Each failure names
the value and what to do; configmap.yaml includes this, so `helm install`,
`helm upgrade` and `helm template` stop before anything is applied.
*/}}
{{- define "conveyor.validate" -}}
{{- $v := .Values -}}
{{- $seenGroup := dict -}}
{{- $seenDomain := dict -}}
{{- $topology := include "conveyor.topology" . -}}
{{- range $i, $g := $v.domainGroups -}}
  {{- $where := printf "domainGroups[%d] (%s)" $i $g.name -}}
  {{- if has $g.name (list "ticker" "migrate" "config") -}}
    {{- fail (printf "%s: the name %q is taken by the chart's own objects; choose another" $where $g.name) -}}
  {{- end -}}
  {{- if hasKey $seenGroup $g.name -}}
    {{- fail (printf "%s: another domain group is named %q; group names must be unique (each is a Deployment)" $where $g.name) -}}
  {{- end -}}
  {{- $_ := set $seenGroup $g.name true -}}
  {{- range $d := $g.domains -}}
    {{- if hasKey $seenDomain $d -}}
      {{- fail (printf "%s: domain %q is also in domain group %q; each domain must run in exactly one Deployment (its consumer group would be split between two Deployments that scale and roll out separately)" $where $d (get $seenDomain $d)) -}}
    {{- end -}}
    {{- $_ := set $seenDomain $d $g.name -}}
    {{- if not (regexMatch (printf "name\\s*=\\s*\"%s\"\\s*;" (regexQuoteMeta $d)) $topology) -}}
      {{- fail (printf "%s: domain %q is not in the topology (topology.content, or the chart's files/topology.cfg)" $where $d) -}}
    {{- end -}}
  {{- end -}}
  {{- $ms := include "conveyor.shutdownTimeoutMs" (dict "root" $ "group" $g) | int64 -}}
  {{- $grace := default $v.terminationGracePeriodSeconds $g.terminationGracePeriodSeconds | int64 -}}
  {{- if le (mul $grace 1000) $ms -}}
    {{- fail (printf "%s: terminationGracePeriodSeconds (%d) must be above consumer.shutdown_timeout_ms (%d ms), or the kubelet kills the pod before the batch in flight commits" $where $grace $ms) -}}
  {{- end -}}
  {{- $as := include "conveyor.autoscaling" $g | fromJson -}}
  {{- if $as.enabled -}}
    {{- if not $as.partitions -}}
      {{- fail (printf "%s: autoscaling.partitions is required: the partition count of the group's topics caps its replicas" $where) -}}
    {{- end -}}
    {{- $max := $as.maxReplicas | int -}}
    {{- if gt $max (int $as.partitions) -}}
      {{- fail (printf "%s: autoscaling.maxReplicas (%d) exceeds autoscaling.partitions (%d): consumers beyond the partition count get no partition and idle" $where $max (int $as.partitions)) -}}
    {{- end -}}
    {{- if gt (int $as.minReplicas) $max -}}
      {{- fail (printf "%s: autoscaling.minReplicas (%d) exceeds the maximum (%d)" $where (int $as.minReplicas) $max) -}}
    {{- end -}}
  {{- end -}}
  {{- include "conveyor.validateEnv" (dict "where" (printf "%s.extraEnv" $where) "env" $g.extraEnv) -}}
{{- end -}}
{{- $ms := int64 $v.config.consumer.shutdown_timeout_ms -}}
{{- if le (mul (int64 $v.terminationGracePeriodSeconds) 1000) $ms -}}
  {{- fail (printf "terminationGracePeriodSeconds (%d) must be above config.consumer.shutdown_timeout_ms (%d ms)" (int64 $v.terminationGracePeriodSeconds) $ms) -}}
{{- end -}}
{{- include "conveyor.validateEnv" (dict "where" "extraEnv" "env" $v.extraEnv) -}}
{{- include "conveyor.validateEnv" (dict "where" "ticker.extraEnv" "env" $v.ticker.extraEnv) -}}
{{- range $name, $_ := $v.kafka.properties -}}
  {{- if regexMatch "(?i)(password|secret|ssl\\.key\\.pem|^ssl_key$)" $name -}}
    {{- fail (printf "kafka.properties.%s holds a secret, and the rendered conveyor.cfg is a ConfigMap. Conveyor reads librdkafka properties only from its config file, so pass TLS keys as files (extraVolumes from a Secret, ssl.key.location) and leave SASL passwords out of the chart" $name) -}}
  {{- end -}}
  {{- if has $name (list "bootstrap.servers" "metadata.broker.list") -}}
    {{- fail (printf "kafka.properties.%s: give the brokers in kafka.brokers" $name) -}}
  {{- end -}}
{{- end -}}
{{- end -}}

{{/* Plain values under secret-looking names are refused. */}}
{{- define "conveyor.validateEnv" -}}
{{- range $i, $e := .env -}}
  {{- if and (hasKey $e "value") (regexMatch "(?i)^(DATABASE_URL|PGPASSWORD|PGPASSFILE)$|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|_KEY$|APIKEY" $e.name) -}}
    {{- fail (printf "%s[%d] (%s): a secret must not be a plain value in the chart's values (it would be stored in the release and rendered into the Deployment); use secretEnv with an existing Secret, or valueFrom.secretKeyRef" $.where $i $e.name) -}}
  {{- end -}}
{{- end -}}
{{- end -}}
