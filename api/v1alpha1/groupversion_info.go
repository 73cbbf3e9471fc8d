// Package v1alpha1 contains the llmroute.dev/v1alpha1 API: RoutePolicy and ProviderKey.
//
// +kubebuilder:object:generate=true
// +groupName=llmroute.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "llmroute.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme. It is apimachinery's builder, not
	// controller-runtime's, so importing the API pulls in no controller code.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &RoutePolicy{}, &RoutePolicyList{}, &ProviderKey{}, &ProviderKeyList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
