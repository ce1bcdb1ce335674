{{- /*
The broken variant (pushed as orders 1.1.0 by test/support/charts.cpp): copied over a chart's
templates/_placement.tpl, it pins the Deployment to a node label no kwok node has, so its pods
stay Pending and `helm --wait` fails when the release's timeout runs out.
*/ -}}
{{- define "springcloud.placement" -}}
envop.io/no-such-node: "true"
{{- end }}
