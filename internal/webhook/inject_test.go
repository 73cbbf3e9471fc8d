package webhook

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

func labelled(mut ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "payments", Labels: map[string]string{LabelInject: "true"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example/app:1"}}},
	}
	for _, m := range mut {
		m(p)
	}
	return p
}

var testOpts = Options{
	Image:           "registry.example/llmroute:v1",
	ImagePullPolicy: corev1.PullIfNotPresent,
	Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
	},
}

func router(t *testing.T, p *corev1.Pod) corev1.Container {
	t.Helper()
	for _, c := range p.Spec.Containers {
		if c.Name == ContainerName {
			return c
		}
	}
	t.Fatalf("no %s container in %v", ContainerName, p.Spec.Containers)
	return corev1.Container{}
}

func TestInject(t *testing.T) {
	cases := []struct {
		name    string
		pod     *corev1.Pod
		changed bool
		check   func(t *testing.T, before, after *corev1.Pod)
	}{
		{
			name:    "plain pod gets sidecar, volume and annotations",
			pod:     labelled(),
			changed: true,
			check: func(t *testing.T, _, p *corev1.Pod) {
				c := router(t, p)
				if c.Image != testOpts.Image || c.ImagePullPolicy != corev1.PullIfNotPresent {
					t.Errorf("image %q policy %q", c.Image, c.ImagePullPolicy)
				}
				wantArgs := "serve --config /etc/llmroute/config --listen 127.0.0.1:8080 --ops-listen 0.0.0.0:9901 --admin-listen 127.0.0.1:9902"
				if got := strings.Join(c.Args, " "); got != wantArgs {
					t.Errorf("args %q, want %q", got, wantArgs)
				}
				if !equality.Semantic.DeepEqual(c.Resources, testOpts.Resources) {
					t.Errorf("resources %v", c.Resources)
				}
				if len(c.Ports) != 1 || c.Ports[0].Name != AdminPortName || c.Ports[0].ContainerPort != 9901 {
					t.Errorf("ports %v", c.Ports)
				}
				if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.ReadinessProbe.HTTPGet.Port.StrVal != AdminPortName ||
					c.LivenessProbe.HTTPGet.Path != "/healthz" || c.LivenessProbe.HTTPGet.Port.StrVal != AdminPortName {
					t.Errorf("probes %v %v", c.ReadinessProbe, c.LivenessProbe)
				}
				sc := c.SecurityContext
				if !*sc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation ||
					len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" ||
					sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
					t.Errorf("security context %+v", sc)
				}
				if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != DefaultConfigMountPath ||
					!c.VolumeMounts[0].ReadOnly || c.VolumeMounts[0].SubPath != "" {
					t.Errorf("mounts %v", c.VolumeMounts)
				}
				v := p.Spec.Volumes[len(p.Spec.Volumes)-1]
				if v.Name != VolumeName || v.Secret == nil || v.Secret.SecretName != "llmroute-config" || !*v.Secret.Optional {
					t.Errorf("volume %+v", v)
				}
				want := map[string]string{AnnotationInjected: "true", AnnotationAdminPort: "9901", annotationDefaultContainer: "app"}
				for k, val := range want {
					if p.Annotations[k] != val {
						t.Errorf("annotation %s = %q, want %q", k, p.Annotations[k], val)
					}
				}
				if p.Spec.Containers[0].Name != "app" {
					t.Errorf("application container no longer first: %v", p.Spec.Containers)
				}
			},
		},
		{
			name:    "already injected pod is unchanged",
			pod:     labelled(func(p *corev1.Pod) { Inject(p, testOpts) }),
			changed: false,
		},
		{
			name: "router added by hand as native sidecar counts as injected",
			pod: labelled(func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: ContainerName, Image: "mine", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}}
			}),
			changed: false,
		},
		{
			name: "pod without the label is unchanged",
			pod: labelled(func(p *corev1.Pod) {
				p.Labels = map[string]string{"app": "x"}
			}),
			changed: false,
		},
		{
			name:    "label value other than true is unchanged",
			pod:     labelled(func(p *corev1.Pod) { p.Labels[LabelInject] = "false" }),
			changed: false,
		},
		{
			name: "pod security context is kept and the router still runs as non-root",
			pod: labelled(func(p *corev1.Pod) {
				p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](0), FSGroup: ptr.To[int64](2000)}
			}),
			changed: true,
			check: func(t *testing.T, before, after *corev1.Pod) {
				if !equality.Semantic.DeepEqual(before.Spec.SecurityContext, after.Spec.SecurityContext) {
					t.Errorf("pod security context changed: %+v", after.Spec.SecurityContext)
				}
				// The container-level user overrides the pod's root user, or the kubelet would refuse runAsNonRoot.
				if sc := router(t, after).SecurityContext; *sc.RunAsUser != 65532 || !*sc.RunAsNonRoot {
					t.Errorf("router security context %+v", sc)
				}
			},
		},
		{
			name:    "automountServiceAccountToken false stays false",
			pod:     labelled(func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = ptr.To(false) }),
			changed: true,
			check: func(t *testing.T, _, p *corev1.Pod) {
				if p.Spec.AutomountServiceAccountToken == nil || *p.Spec.AutomountServiceAccountToken {
					t.Errorf("automountServiceAccountToken = %v", p.Spec.AutomountServiceAccountToken)
				}
			},
		},
		{
			name:    "automountServiceAccountToken unset stays unset",
			pod:     labelled(),
			changed: true,
			check: func(t *testing.T, _, p *corev1.Pod) {
				if p.Spec.AutomountServiceAccountToken != nil {
					t.Errorf("automountServiceAccountToken = %v", *p.Spec.AutomountServiceAccountToken)
				}
			},
		},
		{
			name: "existing annotations and volumes are kept, default container not overridden",
			pod: labelled(func(p *corev1.Pod) {
				p.Annotations = map[string]string{"team": "payments", annotationDefaultContainer: "other"}
				p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			}),
			changed: true,
			check: func(t *testing.T, _, p *corev1.Pod) {
				if p.Annotations["team"] != "payments" || p.Annotations[annotationDefaultContainer] != "other" {
					t.Errorf("annotations %v", p.Annotations)
				}
				if len(p.Spec.Volumes) != 2 || p.Spec.Volumes[0].Name != "data" {
					t.Errorf("volumes %v", p.Spec.Volumes)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.pod.DeepCopy()
			if got := Inject(tc.pod, testOpts); got != tc.changed {
				t.Fatalf("Inject changed = %v, want %v", got, tc.changed)
			}
			if !tc.changed && !equality.Semantic.DeepEqual(before, tc.pod) {
				t.Fatalf("pod modified although Inject reported no change")
			}
			if tc.check != nil {
				tc.check(t, before, tc.pod)
			}
		})
	}
}

func TestInjectOptions(t *testing.T) {
	p := labelled()
	Inject(p, Options{AdminPort: 9999, Listen: "0.0.0.0:8080", ConfigSecretName: "cfg", ConfigMountPath: "/cfg", RequireConfig: true})
	c := router(t, p)
	if got := strings.Join(c.Args, " "); got != "serve --config /cfg --listen 0.0.0.0:8080 --ops-listen 0.0.0.0:9999 --admin-listen 127.0.0.1:10000" {
		t.Errorf("args %q", got)
	}
	if c.Image != DefaultImage || p.Annotations[AnnotationAdminPort] != "9999" || c.Ports[0].ContainerPort != 9999 {
		t.Errorf("image %q annotation %q port %v", c.Image, p.Annotations[AnnotationAdminPort], c.Ports)
	}
	v := p.Spec.Volumes[0]
	if v.Secret.SecretName != "cfg" || *v.Secret.Optional {
		t.Errorf("volume %+v", v.Secret)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, o := range []Options{{AdminPort: 70000}, {AdminPort: -1}, {ImagePullPolicy: "Sometimes"}} {
		if err := o.Validate(); err == nil {
			t.Errorf("Validate(%+v) = nil, want an error", o)
		}
	}
	if err := (Options{ImagePullPolicy: corev1.PullAlways}).Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func review(t *testing.T, raw []byte) admission.Request {
	t.Helper()
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID: "1", Operation: admissionv1.Create, Namespace: "payments",
		Kind:   metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Object: runtime.RawExtension{Raw: raw},
	}}
}

func TestHandle(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	inj := &Injector{Options: testOpts, Decoder: admission.NewDecoder(scheme)}

	t.Run("labelled pod is patched, unknown fields untouched", func(t *testing.T) {
		raw, err := json.Marshal(labelled())
		if err != nil {
			t.Fatal(err)
		}
		// A field a newer API server might send: the patch must not remove it.
		raw = []byte(strings.Replace(string(raw), `"spec":{`, `"spec":{"futureField":{"x":1},`, 1))
		resp := inj.Handle(context.Background(), review(t, raw))
		if !resp.Allowed || resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
			t.Fatalf("response %+v", resp)
		}
		paths := map[string]bool{}
		for _, op := range resp.Patches {
			if op.Operation != "add" {
				t.Errorf("patch op %s %s: only adds expected", op.Operation, op.Path)
			}
			paths[op.Path] = true
		}
		for _, want := range []string{"/metadata/annotations", "/spec/volumes", "/spec/containers/1"} {
			if !paths[want] {
				t.Errorf("patch has no %s: %v", want, resp.Patches)
			}
		}
	})
	t.Run("injected pod gets an empty patch", func(t *testing.T) {
		p := labelled()
		Inject(p, testOpts)
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		resp := inj.Handle(context.Background(), review(t, raw))
		if !resp.Allowed || len(resp.Patches) != 0 || resp.PatchType != nil {
			t.Fatalf("response %+v", resp)
		}
	})
	t.Run("undecodable object is an error", func(t *testing.T) {
		resp := inj.Handle(context.Background(), review(t, []byte(`{"spec":`)))
		if resp.Allowed || resp.Result == nil || resp.Result.Code != 400 {
			t.Fatalf("response %+v", resp)
		}
	})
}
