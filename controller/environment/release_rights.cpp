#include "controller/environment/release_rights.h"

#include <thread>

#include "controller/environment/spec.h"

namespace envop::environment {

const kube::Resource& roleBindings() {
  static const kube::Resource r{"rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding",
                                true};
  return r;
}

kube::Json desiredReleaseRightsBinding(const ReleaseRights& rights, const std::string& ns,
                                       const std::string& environment) {
  kube::Json labels = environment.empty() ? kube::Json{{kManagedByLabel, kManagedByValue}}
                                          : ownershipLabels(environment);
  return {{"apiVersion", "rbac.authorization.k8s.io/v1"},
          {"kind", "RoleBinding"},
          {"metadata", {{"name", kReleaseRightsBinding}, {"namespace", ns}, {"labels", labels}}},
          {"roleRef",
           {{"apiGroup", "rbac.authorization.k8s.io"},
            {"kind", "ClusterRole"},
            {"name", rights.clusterRole}}},
          {"subjects", kube::Json::array({{{"kind", "ServiceAccount"},
                                           {"name", rights.serviceAccountName},
                                           {"namespace", rights.serviceAccountNamespace}}})}};
}

bool awaitReleaseRights(kube::Client& client, const std::string& ns,
                        std::chrono::milliseconds limit) {
  static const kube::Resource reviews{"authorization.k8s.io", "v1", "selfsubjectaccessreviews",
                                      "SelfSubjectAccessReview", false};
  const kube::Json review = {
      {"apiVersion", "authorization.k8s.io/v1"},
      {"kind", "SelfSubjectAccessReview"},
      {"spec",
       {{"resourceAttributes", {{"namespace", ns}, {"verb", "create"}, {"resource", "secrets"}}}}}};
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    auto answer = client.create(reviews, review);
    if (!answer) return false;  // no answer to wait for: the writes will tell
    if (answer.value().value("status", kube::Json::object()).value("allowed", false)) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

}  // namespace envop::environment
