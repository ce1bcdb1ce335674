// MonitoringSpec is the typed view of spec.monitoring: how the stage's workloads are published
// to Prometheus (prometheus.mode, labels, targets) and which alerts are written for it
// (alerts.system, alerts.overrides, alerts.rules). Parsed once with the rest of the spec; an
// error names the field. Admission refuses most bad input already (the CRD's enums, patterns
// and CEL rules); the parser guards against what was stored before the schema tightened.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace envop::environment {

enum class MonitoringMode { kAuto, kServiceMonitor, kHttpSd, kNone };
enum class TargetKind { kService, kPod };

struct MonitoringTarget {
  std::string name;
  TargetKind kind = TargetKind::kService;
  nlohmann::json selector = nlohmann::json::object();  // a metav1.LabelSelector
  std::string port;                                    // a Service port or container port name
  std::string path = "/metrics";
  std::string interval;  // empty: Prometheus's global scrape interval
};

// A change to one of the stage's system alerts; an absent field keeps the stage's default.
struct AlertOverride {
  std::string name;  // a system alert, e.g. QuotaNearlyFull
  std::optional<std::string> threshold;
  std::optional<std::string> for_;
  std::optional<std::string> severity;
};

// One of the stage's own (business) alerting rules.
struct AlertRule {
  std::string name;
  std::string expr;
  std::string for_;  // empty: fires as soon as expr holds
  std::string severity = "warning";
  std::string summary;
};

struct AlertsSpec {
  bool systemEnabled = true;
  std::vector<AlertOverride> overrides;
  std::vector<AlertRule> rules;
};

struct MonitoringSpec {
  MonitoringMode mode = MonitoringMode::kAuto;
  nlohmann::json labels = nlohmann::json::object();  // on every generated monitor and rule
  std::vector<MonitoringTarget> targets;
  std::optional<AlertsSpec> alerts;
};

// Parses spec.monitoring; the error names the field (spec.monitoring.alerts.rules[0].for).
std::variant<MonitoringSpec, std::string> parseMonitoring(const nlohmann::json& monitoring);

// Whether text is a Prometheus duration ("5m", "1h30m", "500ms"; units y w d h m s ms, each at
// most once, largest first).
bool isPrometheusDuration(const std::string& text);

// Prometheus's severities that envop writes: critical pages, warning and info do not.
bool isSeverity(const std::string& text);

}  // namespace envop::environment
