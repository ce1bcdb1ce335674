// What each of envop's informers keeps of what the API server sends: memory that grows with
// envop's work (the Environments, their namespaces and what helm made), not with the cluster.
// Predicates (an informer's `keep`) and transforms (its `transform`, applied on arrival).
#pragma once

#include <functional>

#include "controller/kube/client.h"
#include "controller/runtime/store.h"

namespace envop::app {

// The object carries Helm's release annotation (meta.helm.sh/release-name): helm made it.
bool madeByHelm(const kube::Json& object);

// Whether envop has applied this namespace as an Environment's, whatever the cache of
// namespaces has seen yet (Applier::applied): the objects a new namespace gets at once (its
// kube-root-ca.crt ConfigMap) often arrive before the namespace's own event, and would
// otherwise be refused and make the namespace be listed again when that event comes.
using NamespaceClaimed = std::function<bool(const std::string& ns)>;

// Keeps an object that lives in a namespace of an Environment (a namespace in `namespaces`,
// the cache of envop's namespaces, labelled with its Environment, or one `claimed` says envop
// applied). An object whose namespace is not (yet) an Environment's is picked up by
// Informer::recheckNamespace when it becomes one.
std::function<bool(const kube::Json&)> inEnvironmentNamespace(runtime::StorePtr namespaces,
                                                              NamespaceClaimed claimed = {});
// The same, and any ConfigMap or Secret that helm made. Everything else of the cluster is
// never cached.
std::function<bool(const kube::Json&)> inEnvironmentNamespaceOrMadeByHelm(
    runtime::StorePtr namespaces, NamespaceClaimed claimed = {});

// A change of the namespace cache that can change what the predicate above keeps in that
// namespace: it appeared or went, or its Environment label changed.
bool namespaceOwnerChanged(const runtime::Delta& delta);

// Drops metadata.managedFields and the kubectl.kubernetes.io/last-applied-configuration
// annotation (which carries a whole copy of the object, a Secret's data included).
void stripManagedFieldsAndLastApplied(kube::Json& object);

// Like the above, but keeps envop's own Apply entry of managedFields (manager `envop`,
// operation Apply, no subresource): the Applier judges drift of what envop owns by it.
void keepOnlyEnvopsManagedFields(kube::Json& object);

}  // namespace envop::app
