package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/llmroute/llmroute/internal/routerconfig"
)

const (
	// LabelInject asks for the router sidecar. It is the same label the operator's health poller selects pods
	// by, so every injected pod is polled and no other pod is.
	LabelInject = "llmroute.dev/inject"
	// AnnotationInjected records that the webhook mutated the pod.
	AnnotationInjected = "llmroute.dev/injected"
	// AnnotationAdminPort tells the operator's health poller which port serves the router's state endpoint.
	AnnotationAdminPort = "llmroute.dev/admin-port"
	// annotationDefaultContainer keeps `kubectl logs/exec` pointed at the application, not the sidecar.
	annotationDefaultContainer = "kubectl.kubernetes.io/default-container"

	// ContainerName is the injected router container's name; its presence makes injection a no-op.
	ContainerName = "llmroute-router"
	// VolumeName is the name of the config volume added to the pod.
	VolumeName = "llmroute-config"
	// AdminPortName names the router's ops port (/healthz, /readyz, /metrics, /v1/state).
	AdminPortName = "llmroute-admin"

	// Path is where the webhook server serves the pod mutation.
	Path = "/mutate-v1-pod"

	// DefaultImage is the router image when Options.Image is empty.
	DefaultImage = "ghcr.io/llmroute/llmroute:latest"
	// DefaultAdminPort is the router's ops port.
	DefaultAdminPort = 9901
	// DefaultListen is the router's API address. Loopback is enough: the application container shares the
	// pod's network namespace, and nothing outside the pod should be able to spend the pod's provider keys.
	DefaultListen = "127.0.0.1:8080"
	// DefaultConfigMountPath is where the config Secret is mounted.
	DefaultConfigMountPath = "/etc/llmroute/config"
	// routerUID is the distroless "nonroot" user the image runs as.
	routerUID = 65532
)

// Options is what the injected sidecar looks like. The operator fills it from flags that the Helm chart sets
// from values (router.image, router.resources, ...).
type Options struct {
	// Image of the router; DefaultImage when empty.
	Image string
	// ImagePullPolicy of the router container; the cluster default for the image when empty.
	ImagePullPolicy corev1.PullPolicy
	// Resources of the router container.
	Resources corev1.ResourceRequirements
	// AdminPort is the ops port; DefaultAdminPort when zero.
	AdminPort int32
	// Listen is the router's API address; DefaultListen when empty. Set 0.0.0.0:<port> only when clients
	// outside the pod must reach the router.
	Listen string
	// ConfigSecretName is the per-namespace compiled config Secret; routerconfig.ConfigSecretName when empty.
	ConfigSecretName string
	// ConfigMountPath is where the config Secret is mounted; DefaultConfigMountPath when empty.
	ConfigMountPath string
	// RequireConfig makes the config volume non-optional. The default (false) lets a pod start before the
	// operator has compiled any RoutePolicy of its namespace: the kubelet cannot start any container of a pod
	// whose non-optional Secret volume is missing, so the application itself would be held back. With an
	// optional volume the router starts with an empty directory and stays unready until the Secret appears;
	// the kubelet fills the mounted directory on its next sync, and the router's watcher loads it.
	RequireConfig bool
}

func (o Options) withDefaults() Options {
	if o.Image == "" {
		o.Image = DefaultImage
	}
	if o.AdminPort == 0 {
		o.AdminPort = DefaultAdminPort
	}
	if o.Listen == "" {
		o.Listen = DefaultListen
	}
	if o.ConfigSecretName == "" {
		o.ConfigSecretName = routerconfig.ConfigSecretName
	}
	if o.ConfigMountPath == "" {
		o.ConfigMountPath = DefaultConfigMountPath
	}
	return o
}

// Validate reports options that would produce a pod the API server or kubelet rejects.
func (o Options) Validate() error {
	o = o.withDefaults()
	if o.AdminPort < 1 || o.AdminPort > 65535 {
		return fmt.Errorf("router admin port %d out of range 1-65535", o.AdminPort)
	}
	switch o.ImagePullPolicy {
	case "", corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		return fmt.Errorf("router image pull policy %q: want Always, IfNotPresent or Never", o.ImagePullPolicy)
	}
	return nil
}

// Injected reports whether pod already carries the router, as a regular or a native (init) sidecar. Both count,
// so that a pod whose owner added the router by hand is never given a second one.
func Injected(pod *corev1.Pod) bool {
	for _, cs := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range cs {
			if c.Name == ContainerName {
				return true
			}
		}
	}
	return false
}

// Inject adds the router sidecar, its config volume and the annotations to pod, and reports whether it changed
// anything. It does nothing to a pod without the inject label or one that already has the router. It never
// touches automountServiceAccountToken or the pod's own security context: the router needs no API access
// and sets everything restricted Pod Security asks for on its own container.
func Inject(pod *corev1.Pod, opts Options) bool {
	if pod.Labels[LabelInject] != "true" || Injected(pod) {
		return false
	}
	o := opts.withDefaults()
	// The first container is the application; remember it before the sidecar joins the list.
	if len(pod.Spec.Containers) > 0 {
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		if _, ok := pod.Annotations[annotationDefaultContainer]; !ok {
			pod.Annotations[annotationDefaultContainer] = pod.Spec.Containers[0].Name
		}
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[AnnotationInjected] = "true"
	pod.Annotations[AnnotationAdminPort] = strconv.Itoa(int(o.AdminPort))

	if !hasVolume(pod, VolumeName) {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{
			Name: VolumeName,
			VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: o.ConfigSecretName,
				Optional:   ptr.To(!o.RequireConfig),
			}},
		})
	}
	pod.Spec.Containers = append(pod.Spec.Containers, routerContainer(o))
	return true
}

func hasVolume(pod *corev1.Pod, name string) bool {
	for _, v := range pod.Spec.Volumes {
		if v.Name == name {
			return true
		}
	}
	return false
}

// routerContainer is the sidecar. The security context is complete on the container, not inherited from the
// pod, so the sidecar is admissible under restricted Pod Security whatever the pod says (a pod running as
// root gets a router that still runs as 65532).
func routerContainer(o Options) corev1.Container {
	adminPort := intstr.FromString(AdminPortName)
	return corev1.Container{
		Name:            ContainerName,
		Image:           o.Image,
		ImagePullPolicy: o.ImagePullPolicy,
		Args: []string{
			"serve",
			"--config", o.ConfigMountPath,
			"--listen", o.Listen,
			// The ops port (health, metrics, /v1/state: nothing secret) is what the operator polls and Prometheus
			// scrapes, so it listens on every interface; the key-admin and debug endpoints stay on loopback, on
			// the next port, reachable only from inside the pod.
			"--ops-listen", "0.0.0.0:" + strconv.Itoa(int(o.AdminPort)),
			"--admin-listen", "127.0.0.1:" + strconv.Itoa(int(o.AdminPort)+1),
		},
		Ports: []corev1.ContainerPort{{
			Name: AdminPortName, ContainerPort: o.AdminPort, Protocol: corev1.ProtocolTCP,
		}},
		Resources: *o.Resources.DeepCopy(),
		VolumeMounts: []corev1.VolumeMount{{
			// The whole directory, never a subPath: the kubelet does not update subPath mounts, and the
			// router relies on the atomic ..data swap to see a rotated key.
			Name: VolumeName, MountPath: o.ConfigMountPath, ReadOnly: true,
		}},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: adminPort}},
			PeriodSeconds: 5, FailureThreshold: 3,
		},
		LivenessProbe: &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: adminPort}},
			PeriodSeconds: 10, FailureThreshold: 3, InitialDelaySeconds: 5,
		},
		SecurityContext: &corev1.SecurityContext{
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To[int64](routerUID),
			RunAsGroup:               ptr.To[int64](routerUID),
			ReadOnlyRootFilesystem:   ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

// Injector is the admission.Handler that injects the router into labelled pods.
type Injector struct {
	// Options shape the sidecar.
	Options Options
	// Decoder decodes the AdmissionReview's pod.
	Decoder admission.Decoder
}

// Handle implements admission.Handler. It allows every pod: a pod it does not inject is admitted without a
// patch, and an undecodable pod is an error so that the failure policy, not this handler, decides.
func (i *Injector) Handle(ctx context.Context, req admission.Request) admission.Response {
	pod := &corev1.Pod{}
	if err := i.Decoder.Decode(req, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode pod: %w", err))
	}
	original, err := json.Marshal(pod)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("encode pod: %w", err))
	}
	if !Inject(pod, i.Options) {
		return admission.Allowed("")
	}
	mutated, err := json.Marshal(pod)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("encode injected pod: %w", err))
	}
	log.FromContext(ctx).V(1).Info("injected router sidecar", "namespace", req.Namespace,
		"pod", podName(pod), "image", i.Options.withDefaults().Image)
	// Diff two encodings of the same typed pod, not the raw request against the re-encoded pod: fields this
	// binary's API types do not know are missing from both, so the patch names only what Inject changed and
	// cannot remove a field a newer API server sent.
	return admission.PatchResponseFromRaw(original, mutated)
}

// podName is the name for logs: pods created by controllers have only generateName at admission time.
func podName(pod *corev1.Pod) string {
	if pod.Name != "" {
		return pod.Name
	}
	return pod.GenerateName + "*"
}
