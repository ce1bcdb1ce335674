//go:build tools

// Package tools names the prometheus-operator binary so that `go mod tidy` keeps its
// dependencies.
package tools

import _ "github.com/prometheus-operator/prometheus-operator/cmd/operator"
