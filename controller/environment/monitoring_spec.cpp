#include "controller/environment/monitoring_spec.h"

#include <regex>

#include "controller/environment/field_reader.h"

namespace envop::environment {
namespace {

using Json = nlohmann::json;

std::string indexed(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

}  // namespace

bool isPrometheusDuration(const std::string& text) {
  // model.ParseDuration's grammar: "0", or units in decreasing order, each at most once.
  static const std::regex kDuration(
      "^(0|([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?)$");
  return !text.empty() && std::regex_match(text, kDuration);
}

bool isSeverity(const std::string& text) {
  return text == "critical" || text == "warning" || text == "info";
}

std::variant<MonitoringSpec, std::string> parseMonitoring(const Json& monitoring) {
  FieldReader r;
  MonitoringSpec m;
  const std::string base = "spec.monitoring";
  const Json prometheus = r.object(monitoring, "prometheus", base + ".prometheus");
  const std::string mode = r.string(prometheus, "mode", base + ".prometheus.mode", "Auto");
  if (mode == "Auto") {
    m.mode = MonitoringMode::kAuto;
  } else if (mode == "ServiceMonitor") {
    m.mode = MonitoringMode::kServiceMonitor;
  } else if (mode == "HTTPSD") {
    m.mode = MonitoringMode::kHttpSd;
  } else if (mode == "None") {
    m.mode = MonitoringMode::kNone;
  } else {
    r.fail(base + ".prometheus.mode: must be Auto, ServiceMonitor, HTTPSD or None");
  }
  m.labels = r.object(prometheus, "labels", base + ".prometheus.labels");
  for (const auto& [key, value] : m.labels.items()) {
    if (!value.is_string()) r.fail(base + ".prometheus.labels." + key + ": must be a string");
  }
  const Json targets = r.array(prometheus, "targets", base + ".prometheus.targets");
  for (size_t i = 0; i < targets.size(); ++i) {
    const std::string path = indexed(base + ".prometheus.targets", i);
    const Json& t = targets[i];
    MonitoringTarget target;
    target.name = r.string(t, "name", path + ".name");
    if (target.name.empty()) r.fail(path + ".name: required");
    const std::string kind = r.string(t, "kind", path + ".kind", "Service");
    if (kind == "Pod") {
      target.kind = TargetKind::kPod;
    } else if (kind != "Service") {
      r.fail(path + ".kind: must be Service or Pod");
    }
    target.selector = r.object(t, "selector", path + ".selector");
    target.port = r.string(t, "port", path + ".port");
    if (target.port.empty()) r.fail(path + ".port: required");
    target.path = r.string(t, "path", path + ".path", "/metrics");
    target.interval = r.string(t, "interval", path + ".interval");
    if (!target.interval.empty() && !isPrometheusDuration(target.interval)) {
      r.fail(path + ".interval: must be a duration such as 30s");
    }
    for (const MonitoringTarget& earlier : m.targets) {
      if (earlier.name == target.name) r.fail(path + ".name: duplicate " + target.name);
    }
    m.targets.push_back(std::move(target));
  }

  if (const Json* alerts = r.child(monitoring, "alerts")) {
    AlertsSpec a;
    const std::string apath = base + ".alerts";
    const Json system = r.object(*alerts, "system", apath + ".system");
    a.systemEnabled = r.boolean(system, "enabled", apath + ".system.enabled", true);
    const Json overrides = r.array(*alerts, "overrides", apath + ".overrides");
    for (size_t i = 0; i < overrides.size(); ++i) {
      const std::string path = indexed(apath + ".overrides", i);
      AlertOverride o;
      o.name = r.string(overrides[i], "name", path + ".name");
      if (o.name.empty()) r.fail(path + ".name: required");
      if (FieldReader::child(overrides[i], "threshold") != nullptr) {
        const Json& t = overrides[i]["threshold"];
        // The CRD takes a string ("0.9"); a bare number from an older object reads the same.
        o.threshold = t.is_string() ? t.get<std::string>() : t.is_number() ? t.dump() : "";
        // It goes into PromQL as it is: nothing but a plain decimal number.
        static const std::regex kNumber("^[0-9]+(\\.[0-9]+)?$");
        if (!std::regex_match(*o.threshold, kNumber)) {
          r.fail(path + ".threshold: must be a number such as 0.9");
        }
      }
      if (FieldReader::child(overrides[i], "for") != nullptr) {
        o.for_ = r.string(overrides[i], "for", path + ".for");
        if (!isPrometheusDuration(*o.for_)) r.fail(path + ".for: must be a duration such as 5m");
      }
      if (FieldReader::child(overrides[i], "severity") != nullptr) {
        o.severity = r.string(overrides[i], "severity", path + ".severity");
        if (!isSeverity(*o.severity)) r.fail(path + ".severity: must be critical, warning or info");
      }
      a.overrides.push_back(std::move(o));
    }
    const Json rules = r.array(*alerts, "rules", apath + ".rules");
    for (size_t i = 0; i < rules.size(); ++i) {
      const std::string path = indexed(apath + ".rules", i);
      AlertRule rule;
      rule.name = r.string(rules[i], "name", path + ".name");
      if (rule.name.empty()) r.fail(path + ".name: required");
      rule.expr = r.string(rules[i], "expr", path + ".expr");
      if (rule.expr.find_first_not_of(" \t\n") == std::string::npos) {
        r.fail(path + ".expr: required");
      }
      rule.for_ = r.string(rules[i], "for", path + ".for");
      if (!rule.for_.empty() && !isPrometheusDuration(rule.for_)) {
        r.fail(path + ".for: must be a duration such as 10m");
      }
      rule.severity = r.string(rules[i], "severity", path + ".severity", "warning");
      if (!isSeverity(rule.severity)) r.fail(path + ".severity: must be critical, warning or info");
      rule.summary = r.string(rules[i], "summary", path + ".summary");
      a.rules.push_back(std::move(rule));
    }
    m.alerts = std::move(a);
  }
  if (r.error_) return *r.error_;
  return m;
}

}  // namespace envop::environment
