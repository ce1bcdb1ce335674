{{- /*
A nodeSelector the chart itself imposes, merged under .Values.nodeSelector. Empty here;
test/charts/broken/ replaces this file with one that no kwok node satisfies.
*/ -}}
{{- define "springcloud.placement" -}}
{{- end }}
