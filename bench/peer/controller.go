package main

// The Environment reconciler, as a kubebuilder user writes one: the objects come from the
// manager's caches, each owned object is made by controllerutil.CreateOrUpdate with a
// controller reference (so that Owns() watches bring its owner back), the finalizer is
// added first and removed last, and the status is written once, when it changed.
//
// It does what envop's namespace part does for an Environment (controller/environment/
// namespace_part.cpp): the namespace with the ownership labels, the ResourceQuota
// envop-quota, the LimitRange envop-limits and the NetworkPolicy envop-isolation with the
// same content, the same conditions (Ready, NamespaceReady, Reconciling, Stalled) and
// status fields (observedGeneration, phase, namespace), and deletion per deletionPolicy.

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

const (
	managedByLabel    = "app.kubernetes.io/managed-by"
	managedByValue    = "envop"
	environmentLabel  = "envop.io/environment"
	finalizerName     = "envop.io/finalizer"
	monitoringLabel   = "envop.io/monitoring"
	adoptedAnnotation = "envop.io/adopted"

	quotaName         = "envop-quota"
	limitRangeName    = "envop-limits"
	networkPolicyName = "envop-isolation"

	progressRecheck = 5 * time.Second
)

type partState int

// In the order of badness, as envop ranks them.
const (
	stateReady partState = iota
	stateProgressing
	stateFailed
	stateStalled
)

// What the namespace part found: its state, and a reason and message when not ready.
type outcome struct {
	state   partState
	reason  string
	message string
}

func ready() outcome { return outcome{state: stateReady} }

type EnvironmentReconciler struct {
	client.Client
	Scheme *runtime.Scheme
}

func namespaceName(env *Environment) string {
	if env.Spec.Namespace.Name != "" {
		return env.Spec.Namespace.Name
	}
	return env.Name
}

func ownershipLabels(env *Environment) map[string]string {
	return map[string]string{managedByLabel: managedByValue, environmentLabel: env.Name}
}

func setLabels(obj client.Object, labels map[string]string) {
	l := obj.GetLabels()
	if l == nil {
		l = map[string]string{}
	}
	for k, v := range labels {
		l[k] = v
	}
	obj.SetLabels(l)
}

func (r *EnvironmentReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logf.FromContext(ctx)
	env := &Environment{}
	if err := r.Get(ctx, req.NamespacedName, env); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !env.DeletionTimestamp.IsZero() {
		return r.finalize(ctx, env)
	}
	if !controllerutil.ContainsFinalizer(env, finalizerName) {
		patch := client.MergeFrom(env.DeepCopy())
		controllerutil.AddFinalizer(env, finalizerName)
		if err := r.Patch(ctx, env, patch); err != nil {
			return ctrl.Result{}, err
		}
	}

	var part outcome
	if env.Spec.Suspend {
		part = r.observe(ctx, env)
	} else {
		var err error
		part, err = r.reconcileNamespace(ctx, env)
		if err != nil && part.state == stateReady {
			return ctrl.Result{}, err
		}
	}
	if err := r.writeStatus(ctx, env, part, false); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{Requeue: true}, nil
		}
		return ctrl.Result{}, err
	}
	switch part.state {
	case stateProgressing:
		return ctrl.Result{RequeueAfter: progressRecheck}, nil
	case stateFailed:
		return ctrl.Result{}, fmt.Errorf("%s", part.message)
	case stateStalled:
		log.Info("stalled", "reason", part.reason, "message", part.message)
	}
	return ctrl.Result{}, nil
}

// The namespace and its guardrails. An error comes back for a failure to retry.
func (r *EnvironmentReconciler) reconcileNamespace(ctx context.Context, env *Environment) (outcome, error) {
	spec := env.Spec.Namespace
	name := namespaceName(env)
	existing := &corev1.Namespace{}
	adopted := false
	switch err := r.Get(ctx, types.NamespacedName{Name: name}, existing); {
	case apierrors.IsNotFound(err):
		if spec.CreationPolicy == "Adopt" {
			return outcome{stateStalled, "NamespaceNotFound", "namespace " + name +
				" does not exist and spec.namespace.creationPolicy is Adopt; create it or set " +
				"the policy to Create or CreateOrAdopt"}, nil
		}
	case err != nil:
		return outcome{stateFailed, "NamespaceUnreadable", "reading namespace " + name + ": " + err.Error()}, nil
	default:
		owner := existing.Labels[environmentLabel]
		adopted = existing.Annotations[adoptedAnnotation] == "true"
		if owner != "" && owner != env.Name {
			return outcome{stateStalled, "NamespaceOwnedByAnother",
				"namespace " + name + " belongs to Environment " + owner}, nil
		}
		if owner == "" {
			if spec.CreationPolicy == "Create" {
				return outcome{stateStalled, "NamespaceExists", "namespace " + name +
					" already exists and spec.namespace.creationPolicy is Create; set it to Adopt " +
					"or CreateOrAdopt to take it over"}, nil
			}
			adopted = true
		}
		if existing.Status.Phase == corev1.NamespaceTerminating {
			return outcome{stateProgressing, "NamespaceTerminating",
				"namespace " + name + " is being deleted; waiting to create it again"}, nil
		}
	}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, ns, func() error {
		setLabels(ns, spec.Labels)
		setLabels(ns, ownershipLabels(env))
		if len(spec.Annotations) > 0 || adopted {
			a := ns.GetAnnotations()
			if a == nil {
				a = map[string]string{}
			}
			for k, v := range spec.Annotations {
				a[k] = v
			}
			if adopted {
				a[adoptedAnnotation] = "true"
			}
			ns.SetAnnotations(a)
		}
		return controllerutil.SetControllerReference(env, ns, r.Scheme)
	}); err != nil {
		return applyFailed("Namespace "+name, err), err
	}

	if spec.ResourceQuota != nil && len(spec.ResourceQuota.Hard) > 0 {
		quota := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: quotaName, Namespace: name}}
		if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, quota, func() error {
			setLabels(quota, ownershipLabels(env))
			quota.Spec.Hard = spec.ResourceQuota.Hard.DeepCopy()
			return controllerutil.SetControllerReference(env, quota, r.Scheme)
		}); err != nil {
			return applyFailed("ResourceQuota "+name+"/"+quotaName, err), err
		}
	} else if err := r.removeOwned(ctx, env, &corev1.ResourceQuota{}, name, quotaName); err != nil {
		return outcome{stateFailed, "DeleteFailed", err.Error()}, err
	}

	if spec.LimitRange != nil {
		limits := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: limitRangeName, Namespace: name}}
		l := spec.LimitRange
		if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, limits, func() error {
			setLabels(limits, ownershipLabels(env))
			limits.Spec.Limits = []corev1.LimitRangeItem{{
				Type:                 corev1.LimitTypeContainer,
				Max:                  l.Max.DeepCopy(),
				Min:                  l.Min.DeepCopy(),
				Default:              l.Default.DeepCopy(),
				DefaultRequest:       l.DefaultRequest.DeepCopy(),
				MaxLimitRequestRatio: l.MaxLimitRequestRatio.DeepCopy(),
			}}
			return controllerutil.SetControllerReference(env, limits, r.Scheme)
		}); err != nil {
			return applyFailed("LimitRange "+name+"/"+limitRangeName, err), err
		}
	} else if err := r.removeOwned(ctx, env, &corev1.LimitRange{}, name, limitRangeName); err != nil {
		return outcome{stateFailed, "DeleteFailed", err.Error()}, err
	}

	if spec.NetworkIsolation == "Isolated" {
		policy := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: networkPolicyName, Namespace: name}}
		if _, err := controllerutil.CreateOrUpdate(ctx, r.Client, policy, func() error {
			setLabels(policy, ownershipLabels(env))
			// Default-deny ingress, except from the same namespace and from monitoring.
			policy.Spec = networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
				Ingress: []networkingv1.NetworkPolicyIngressRule{{
					From: []networkingv1.NetworkPolicyPeer{
						{PodSelector: &metav1.LabelSelector{}},
						{NamespaceSelector: &metav1.LabelSelector{
							MatchLabels: map[string]string{monitoringLabel: "true"}}},
					},
				}},
			}
			return controllerutil.SetControllerReference(env, policy, r.Scheme)
		}); err != nil {
			return applyFailed("NetworkPolicy "+name+"/"+networkPolicyName, err), err
		}
	} else if err := r.removeOwned(ctx, env, &networkingv1.NetworkPolicy{}, name, networkPolicyName); err != nil {
		return outcome{stateFailed, "DeleteFailed", err.Error()}, err
	}
	return ready(), nil
}

func applyFailed(what string, err error) outcome {
	state := stateFailed
	if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
		state = stateStalled
	}
	return outcome{state, "ApplyFailed", "applying " + what + ": " + err.Error()}
}

// Deletes a guardrail no longer asked for, if it is this Environment's.
func (r *EnvironmentReconciler) removeOwned(ctx context.Context, env *Environment, obj client.Object, ns, name string) error {
	if err := r.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, obj); err != nil {
		return client.IgnoreNotFound(err)
	}
	if obj.GetLabels()[environmentLabel] != env.Name {
		return nil
	}
	return client.IgnoreNotFound(r.Delete(ctx, obj))
}

// spec.suspend: nothing is written but the status; the namespace part reports whether its
// namespace is there.
func (r *EnvironmentReconciler) observe(ctx context.Context, env *Environment) outcome {
	name := namespaceName(env)
	ns := &corev1.Namespace{}
	if err := r.Get(ctx, types.NamespacedName{Name: name}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			return outcome{stateProgressing, "DriftDetected",
				"Namespace " + name + " is missing (spec.suspend is true: envop changes nothing)"}
		}
		return outcome{stateFailed, "ObserveFailed", "reading Namespace " + name + ": " + err.Error()}
	}
	return ready()
}

func (r *EnvironmentReconciler) deletionRemoves(env *Environment, ns *corev1.Namespace) bool {
	policy := env.Spec.Namespace.DeletionPolicy
	explicit := policy != ""
	if !explicit {
		policy = "Delete"
		if env.Spec.Stage == "production" || env.Spec.Stage == "gray" {
			policy = "Retain"
		}
	}
	adopted := ns.Annotations[adoptedAnnotation] == "true"
	return policy == "Delete" && (!adopted || explicit)
}

func (r *EnvironmentReconciler) finalize(ctx context.Context, env *Environment) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(env, finalizerName) {
		return ctrl.Result{}, nil
	}
	name := namespaceName(env)
	ns := &corev1.Namespace{}
	err := r.Get(ctx, types.NamespacedName{Name: name}, ns)
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	if err == nil && ns.Labels[environmentLabel] == env.Name && !env.Spec.Suspend {
		if r.deletionRemoves(env, ns) {
			if ns.Status.Phase != corev1.NamespaceTerminating {
				if err := r.Delete(ctx, ns, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
					return ctrl.Result{}, err
				}
			}
			part := outcome{stateProgressing, "NamespaceTerminating", "waiting for namespace " + name + " to be deleted"}
			if err := r.writeStatus(ctx, env, part, true); err != nil && !apierrors.IsConflict(err) {
				return ctrl.Result{}, client.IgnoreNotFound(err)
			}
			// The namespace's delete event (Owns) usually comes sooner.
			return ctrl.Result{RequeueAfter: progressRecheck}, nil
		}
		// Retain: everything stays, without the ownership labels and references.
		for _, obj := range []client.Object{
			&corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Name: quotaName, Namespace: name}},
			&corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: limitRangeName, Namespace: name}},
			&networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: networkPolicyName, Namespace: name}},
			ns,
		} {
			if err := r.disown(ctx, env, obj); err != nil {
				return ctrl.Result{}, err
			}
		}
	}
	patch := client.MergeFrom(env.DeepCopy())
	controllerutil.RemoveFinalizer(env, finalizerName)
	return ctrl.Result{}, client.IgnoreNotFound(r.Patch(ctx, env, patch))
}

func (r *EnvironmentReconciler) disown(ctx context.Context, env *Environment, obj client.Object) error {
	if err := r.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return client.IgnoreNotFound(err)
	}
	if obj.GetLabels()[environmentLabel] != env.Name {
		return nil
	}
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	labels := obj.GetLabels()
	delete(labels, managedByLabel)
	delete(labels, environmentLabel)
	obj.SetLabels(labels)
	var refs []metav1.OwnerReference
	for _, ref := range obj.GetOwnerReferences() {
		if ref.UID != env.UID {
			refs = append(refs, ref)
		}
	}
	obj.SetOwnerReferences(refs)
	return client.IgnoreNotFound(r.Patch(ctx, obj, patch))
}

// The status envop writes for the namespace part's outcome, written only when it changed.
func (r *EnvironmentReconciler) writeStatus(ctx context.Context, env *Environment, part outcome, deleting bool) error {
	before := env.Status.DeepCopy()
	st := &env.Status
	gen := env.Generation
	summary := func() string {
		if part.message != "" {
			return "Namespace: " + part.message
		}
		return "Namespace"
	}
	cond := func(t string, s metav1.ConditionStatus, reason, message string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{
			Type: t, Status: s, Reason: reason, Message: message, ObservedGeneration: gen})
	}
	nsReason := part.reason
	if nsReason == "" {
		nsReason = "Reconciled"
	}
	switch {
	case deleting:
		cond("Ready", metav1.ConditionFalse, "Terminating", "the Environment is being deleted")
		st.Phase = "Terminating"
	case env.Spec.Suspend:
		cond("Ready", metav1.ConditionFalse, "Suspended", "spec.suspend is true: observing only")
		st.Phase = "Suspended"
	case part.state == stateReady:
		cond("Ready", metav1.ConditionTrue, "Reconciled", "")
		st.Phase = "Ready"
	case part.state == stateProgressing:
		cond("Ready", metav1.ConditionFalse, nsReason, summary())
		st.Phase = "Progressing"
	default:
		cond("Ready", metav1.ConditionFalse, nsReason, summary())
		st.Phase = "Degraded"
	}
	if part.state == stateProgressing && !env.Spec.Suspend {
		cond("Reconciling", metav1.ConditionTrue, "Progressing", summary())
	} else {
		meta.RemoveStatusCondition(&st.Conditions, "Reconciling")
	}
	if part.state == stateStalled {
		cond("Stalled", metav1.ConditionTrue, nsReason, summary())
	} else {
		meta.RemoveStatusCondition(&st.Conditions, "Stalled")
	}
	if part.state == stateReady {
		cond("NamespaceReady", metav1.ConditionTrue, "Reconciled", "")
	} else {
		cond("NamespaceReady", metav1.ConditionFalse, nsReason, part.message)
	}
	st.ObservedGeneration = gen
	st.Namespace = namespaceName(env)
	if equality.Semantic.DeepEqual(before, st) {
		return nil
	}
	return r.Status().Update(ctx, env)
}

func (r *EnvironmentReconciler) SetupWithManager(mgr ctrl.Manager, maxConcurrent int) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&Environment{}).
		Owns(&corev1.Namespace{}).
		Owns(&corev1.ResourceQuota{}).
		Owns(&corev1.LimitRange{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Named("environment").
		WithOptions(controller.Options{MaxConcurrentReconciles: maxConcurrent}).
		Complete(r)
}
