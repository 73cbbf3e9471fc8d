package manifests

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"weak"

	apiextensionsinternal "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	schemaobjectmeta "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	apiservervalidation "k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"

	"github.com/llmroute/llmroute/api/v1alpha1"
	"github.com/llmroute/llmroute/config/crd"
)

// crdKind selects one of the embedded CRDs.
type crdKind int

const (
	routePolicyKind crdKind = iota
	providerKeyKind
)

// crdValidator holds what the API server builds from a CRD version to admit objects: the structural schema
// (pruning, defaulting, list types), the OpenAPI schema validator and the CEL validator.
type crdValidator struct {
	structural *structuralschema.Structural
	schema     apiservervalidation.SchemaValidator
	cel        *cel.Validator
}

// The validators are held weakly: building them (compiling the CEL rules) takes tens of milliseconds, which
// the documents of one load share, while keeping them between loads would pin a few MiB of schema and CEL
// state in a sidecar whose config changes rarely. A load holds them strongly (LoadDetail), so they
// live exactly as long as someone validates.
var (
	validatorsMu   sync.Mutex
	validatorsWeak weak.Pointer[[2]*crdValidator]
)

func validators() (*[2]*crdValidator, error) {
	validatorsMu.Lock()
	defer validatorsMu.Unlock()
	if vs := validatorsWeak.Value(); vs != nil {
		return vs, nil
	}
	out := new([2]*crdValidator)
	for i, raw := range [][]byte{crd.RoutePolicies, crd.ProviderKeys} {
		v, err := newCRDValidator(raw)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	validatorsWeak = weak.Make(out)
	return out, nil
}

func newCRDValidator(raw []byte) (*crdValidator, error) {
	var def apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(raw, &def); err != nil {
		return nil, fmt.Errorf("parse embedded CRD: %w", err)
	}
	var v1Props *apiextensionsv1.JSONSchemaProps
	for _, v := range def.Spec.Versions {
		if v.Name == v1alpha1.GroupVersion.Version && v.Schema != nil {
			v1Props = v.Schema.OpenAPIV3Schema
		}
	}
	if v1Props == nil {
		return nil, fmt.Errorf("embedded CRD %s has no %s schema", def.Name, v1alpha1.GroupVersion.Version)
	}
	internal := &apiextensionsinternal.JSONSchemaProps{}
	if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v1Props, internal, nil); err != nil {
		return nil, fmt.Errorf("convert CRD %s schema: %w", def.Name, err)
	}
	s, err := structuralschema.NewStructural(internal)
	if err != nil {
		return nil, fmt.Errorf("structural schema of CRD %s: %w", def.Name, err)
	}
	sv, _, err := apiservervalidation.NewSchemaValidator(internal)
	if err != nil {
		return nil, fmt.Errorf("schema validator of CRD %s: %w", def.Name, err)
	}
	return &crdValidator{structural: s, schema: sv, cel: cel.NewValidator(s, true, celconfig.PerCallLimit)}, nil
}

// validateObject validates one RoutePolicy or ProviderKey (as JSON) the way the API server does on create:
// prune and default with the structural schema, validate against the OpenAPI schema, then run the CEL rules
// unless a blocking schema error makes them moot. It returns the defaulted object as JSON, or an error whose
// text after ErrInvalidManifest is the API server's own message (what kubectl prints after "is invalid: ").
// Unknown fields are errors, as with kubectl's default strict field validation.
func validateObject(doc []byte, kind crdKind) ([]byte, error) {
	vs, err := validators()
	if err != nil {
		return nil, err
	}
	v := vs[kind]
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(doc); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidManifest, err)
	}
	// Strict field validation, as kubectl asks for by default: an unknown field is a typo the user must hear of,
	// not something to drop silently.
	if unknown := pruning.PruneWithOptions(u.Object, v.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true}); len(unknown) > 0 {
		errs := field.ErrorList{}
		for _, p := range unknown {
			errs = append(errs, field.Invalid(nil, nil, fmt.Sprintf("unknown field %q", p)))
		}
		return nil, fmt.Errorf("%w: strict decoding error: %s", ErrInvalidManifest, errs.ToAggregate().Error())
	}
	structuraldefaulting.PruneNonNullableNullsWithoutDefaults(u.Object, v.structural)
	structuraldefaulting.Default(u.Object, v.structural)

	// The same sequence as the API server's customresource strategy Validate.
	ctx := context.Background()
	var errs field.ErrorList
	errs = append(errs, apiservervalidation.ValidateCustomResource(nil, u.Object, v.schema)...)
	errs = append(errs, schemaobjectmeta.Validate(ctx, nil, u.Object, v.structural, false)...)
	errs = append(errs, listtype.ValidateListSetsAndMaps(nil, v.structural, u.Object)...)
	if blocking := blockingError(errs); blocking != nil {
		errs = append(errs, blocking)
	} else {
		celErrs, _ := v.cel.Validate(ctx, nil, v.structural, u.Object, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrInvalidManifest, errs.ToAggregate().Error())
	}
	out, err := json.Marshal(u.Object)
	if err != nil {
		return nil, fmt.Errorf("encode validated object: %w", err)
	}
	return out, nil
}

// blockingError mirrors the API server's rule: OpenAPI errors of these types leave the object in a shape CEL
// rules cannot be evaluated on, so CEL is skipped and the user is told so.
func blockingError(errs field.ErrorList) *field.Error {
	for _, err := range errs {
		switch err.Type {
		case field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong, field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid:
			return field.Invalid(nil, nil, "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation")
		}
	}
	return nil
}

// decodeValidated validates doc against the CRD of kind and decodes the defaulted result into out.
func decodeValidated(doc []byte, kind crdKind, out any) error {
	valid, err := validateObject(doc, kind)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(valid, out); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidManifest, err)
	}
	return nil
}
