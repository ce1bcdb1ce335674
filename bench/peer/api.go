package main

// The Environment type, written by hand for the part of the CRD this operator reconciles
// (spec.stage, spec.suspend, spec.namespace and the status). A kubebuilder user would have
// controller-gen write the DeepCopy methods; these are the same code, by hand, so that the
// module needs no generator. Fields of the CRD outside the namespace part are not decoded,
// which is why the finalizer is added by a merge patch rather than a full Update: an Update
// would write the object back without them.

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	GroupVersion  = schema.GroupVersion{Group: "envop.io", Version: "v1alpha1"}
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}
	AddToScheme   = SchemeBuilder.AddToScheme
)

func init() {
	SchemeBuilder.Register(&Environment{}, &EnvironmentList{})
}

type Environment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   EnvironmentSpec   `json:"spec,omitempty"`
	Status EnvironmentStatus `json:"status,omitempty"`
}

type EnvironmentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Environment `json:"items"`
}

type EnvironmentSpec struct {
	Stage     string        `json:"stage"`
	Suspend   bool          `json:"suspend,omitempty"`
	Namespace NamespaceSpec `json:"namespace,omitempty"`
}

type NamespaceSpec struct {
	Name             string             `json:"name,omitempty"`
	Labels           map[string]string  `json:"labels,omitempty"`
	Annotations      map[string]string  `json:"annotations,omitempty"`
	CreationPolicy   string             `json:"creationPolicy,omitempty"`
	DeletionPolicy   string             `json:"deletionPolicy,omitempty"`
	ResourceQuota    *ResourceQuotaSpec `json:"resourceQuota,omitempty"`
	LimitRange       *LimitRangeSpec    `json:"limitRange,omitempty"`
	NetworkIsolation string             `json:"networkIsolation,omitempty"`
}

type ResourceQuotaSpec struct {
	Hard corev1.ResourceList `json:"hard,omitempty"`
}

// One container LimitRangeItem without its type.
type LimitRangeSpec struct {
	Max                  corev1.ResourceList `json:"max,omitempty"`
	Min                  corev1.ResourceList `json:"min,omitempty"`
	Default              corev1.ResourceList `json:"default,omitempty"`
	DefaultRequest       corev1.ResourceList `json:"defaultRequest,omitempty"`
	MaxLimitRequestRatio corev1.ResourceList `json:"maxLimitRequestRatio,omitempty"`
}

type EnvironmentStatus struct {
	ObservedGeneration int64              `json:"observedGeneration,omitempty"`
	Phase              string             `json:"phase,omitempty"`
	Conditions         []metav1.Condition `json:"conditions,omitempty"`
	Namespace          string             `json:"namespace,omitempty"`
}

// --- what controller-gen would have generated ---------------------------------------

func (in *Environment) DeepCopyInto(out *Environment) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	in.Spec.DeepCopyInto(&out.Spec)
	in.Status.DeepCopyInto(&out.Status)
}

func (in *Environment) DeepCopy() *Environment {
	if in == nil {
		return nil
	}
	out := new(Environment)
	in.DeepCopyInto(out)
	return out
}

func (in *Environment) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

func (in *EnvironmentList) DeepCopyInto(out *EnvironmentList) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]Environment, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

func (in *EnvironmentList) DeepCopy() *EnvironmentList {
	if in == nil {
		return nil
	}
	out := new(EnvironmentList)
	in.DeepCopyInto(out)
	return out
}

func (in *EnvironmentList) DeepCopyObject() runtime.Object {
	if c := in.DeepCopy(); c != nil {
		return c
	}
	return nil
}

func (in *EnvironmentSpec) DeepCopyInto(out *EnvironmentSpec) {
	*out = *in
	in.Namespace.DeepCopyInto(&out.Namespace)
}

func copyStrings(in map[string]string) map[string]string {
	if in == nil {
		return nil
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[k] = v
	}
	return out
}

func (in *NamespaceSpec) DeepCopyInto(out *NamespaceSpec) {
	*out = *in
	out.Labels = copyStrings(in.Labels)
	out.Annotations = copyStrings(in.Annotations)
	if in.ResourceQuota != nil {
		out.ResourceQuota = &ResourceQuotaSpec{Hard: in.ResourceQuota.Hard.DeepCopy()}
	}
	if in.LimitRange != nil {
		l := in.LimitRange
		out.LimitRange = &LimitRangeSpec{
			Max:                  l.Max.DeepCopy(),
			Min:                  l.Min.DeepCopy(),
			Default:              l.Default.DeepCopy(),
			DefaultRequest:       l.DefaultRequest.DeepCopy(),
			MaxLimitRequestRatio: l.MaxLimitRequestRatio.DeepCopy(),
		}
	}
}

func (in *EnvironmentStatus) DeepCopyInto(out *EnvironmentStatus) {
	*out = *in
	if in.Conditions != nil {
		out.Conditions = make([]metav1.Condition, len(in.Conditions))
		for i := range in.Conditions {
			in.Conditions[i].DeepCopyInto(&out.Conditions[i])
		}
	}
}

func (in *EnvironmentStatus) DeepCopy() *EnvironmentStatus {
	if in == nil {
		return nil
	}
	out := new(EnvironmentStatus)
	in.DeepCopyInto(out)
	return out
}
