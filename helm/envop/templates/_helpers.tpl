{{- define "envop.labels" -}}
app.kubernetes.io/name: envop
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
{{- define "envop.selector" -}}
app.kubernetes.io/name: envop
app.kubernetes.io/component: controller
{{- end }}
{{- /* The ClusterRole of release rights envop binds in each stage namespace. */ -}}
{{- define "envop.releaseRole" -}}
envop-releases
{{- end }}
