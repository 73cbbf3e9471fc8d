package webhook

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/llmroute/llmroute/internal/certs"
)

// Certificate modes of the webhook server.
const (
	// CertModeSelfSigned: the operator issues and rotates its own CA and serving certificate (internal/certs)
	// and writes the CA bundle into the MutatingWebhookConfiguration. Needs nothing else in the cluster.
	CertModeSelfSigned = "self-signed"
	// CertModeFiles: tls.crt/tls.key are read (and reloaded on change) from CertDir, where a Secret written by
	// cert-manager is mounted; cert-manager's cainjector fills the CA bundle.
	CertModeFiles = "files"
)

// Config configures the webhook server and the sidecar it injects. BindFlags maps it to operator flags.
type Config struct {
	// Enabled turns the webhook server on. It is off by default so that an operator run as a plain process
	// (development, e2e) needs no certificates and no webhook configuration; the chart turns it on.
	Enabled bool
	// Host and Port the webhook server listens on.
	Host string
	Port int
	// CertMode is CertModeSelfSigned or CertModeFiles.
	CertMode string
	// CertDir holds tls.crt and tls.key in CertModeFiles.
	CertDir string
	// Namespace of the operator: where the certificate Secret lives and the Service is.
	Namespace string
	// ServiceName is the webhook Service; the serving certificate is issued for its DNS names.
	ServiceName string
	// CertSecretName is the Secret holding the self-signed CA and serving certificate.
	CertSecretName string
	// WebhookConfigName is the MutatingWebhookConfiguration whose CA bundle the operator keeps current.
	WebhookConfigName string
	// ExtraIPs are extra IP SANs of the serving certificate (tests serve on 127.0.0.1).
	ExtraIPs []net.IP
	// Injection shapes the sidecar.
	Injection Options

	// Flag values converted by Complete: the flag package has no PullPolicy or JSON flag types.
	resourcesJSON, pullPolicy string
}

// BindFlags registers the webhook flags on fs. The Helm chart sets each of them from values. The sidecar's
// admin port is not among them: the operator sets Injection.AdminPort from its --router-admin-port, so the
// injected routers and the health poller agree on it.
func (c *Config) BindFlags(fs *flag.FlagSet) {
	fs.BoolVar(&c.Enabled, "enable-webhook", false, "serve the sidecar-injection webhook")
	fs.StringVar(&c.Host, "webhook-host", "", "address the webhook server binds (all addresses when empty)")
	fs.IntVar(&c.Port, "webhook-port", 9443, "port of the webhook server")
	fs.StringVar(&c.CertMode, "webhook-cert-mode", CertModeSelfSigned,
		"serving certificate: "+CertModeSelfSigned+" (issued and rotated by the operator) or "+CertModeFiles+" (tls.crt/tls.key in --webhook-cert-dir, e.g. from cert-manager)")
	fs.StringVar(&c.CertDir, "webhook-cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory of tls.crt and tls.key in files mode")
	fs.StringVar(&c.Namespace, "webhook-namespace", os.Getenv("POD_NAMESPACE"), "namespace of the webhook Service and certificate Secret (default: $POD_NAMESPACE)")
	fs.StringVar(&c.ServiceName, "webhook-service-name", "llmroute-webhook", "webhook Service name, for the certificate's DNS names")
	fs.StringVar(&c.CertSecretName, "webhook-cert-secret", "llmroute-webhook-cert", "Secret holding the self-signed CA and serving certificate")
	fs.StringVar(&c.WebhookConfigName, "webhook-config-name", "llmroute", "MutatingWebhookConfiguration whose caBundle the operator keeps current")
	fs.StringVar(&c.Injection.Image, "router-image", DefaultImage, "router image injected as the sidecar")
	fs.StringVar(&c.pullPolicy, "router-image-pull-policy", "", "imagePullPolicy of the sidecar (Always, IfNotPresent, Never; cluster default when empty)")
	fs.StringVar(&c.resourcesJSON, "router-resources", "", `resources of the sidecar as JSON, e.g. {"requests":{"cpu":"50m","memory":"64Mi"}}`)
	fs.StringVar(&c.Injection.Listen, "router-listen", DefaultListen, "API address of the injected router")
	fs.StringVar(&c.Injection.ConfigSecretName, "router-config-secret", "llmroute-config", "compiled config Secret mounted into the sidecar")
	fs.BoolVar(&c.Injection.RequireConfig, "router-require-config", false, "hold pods back until their namespace's config Secret exists")
}

// Complete finishes a Config filled by BindFlags once the flags are parsed, and validates it.
func (c *Config) Complete() error {
	c.Injection.ImagePullPolicy = corev1.PullPolicy(c.pullPolicy)
	if c.resourcesJSON != "" {
		if err := json.Unmarshal([]byte(c.resourcesJSON), &c.Injection.Resources); err != nil {
			return fmt.Errorf("--router-resources: %w", err)
		}
	}
	if err := c.Injection.Validate(); err != nil {
		return err
	}
	if !c.Enabled {
		return nil
	}
	// A webhook bound to an IP (a process outside the cluster, as in dev-up and e2e, called by URL) needs that
	// IP in its certificate.
	if ip := net.ParseIP(c.Host); ip != nil && !ip.IsUnspecified() && !slices.ContainsFunc(c.ExtraIPs, ip.Equal) {
		c.ExtraIPs = append(c.ExtraIPs, ip)
	}
	switch c.CertMode {
	case CertModeFiles:
	case CertModeSelfSigned:
		if c.Namespace == "" {
			return errors.New("--webhook-namespace (or $POD_NAMESPACE) is required with self-signed certificates")
		}
	default:
		return fmt.Errorf("--webhook-cert-mode %q: want %s or %s", c.CertMode, CertModeSelfSigned, CertModeFiles)
	}
	return nil
}

// Webhook is the configured webhook: a server for the manager and, in self-signed mode, its certificate
// rotator.
type Webhook struct {
	cfg     Config
	rotator *certs.Rotator
	server  crwebhook.Server
}

// New builds the webhook server for cfg (already Completed). Pass Server() into the manager's Options and call
// Setup once the manager exists.
func New(cfg Config) *Webhook {
	w := &Webhook{cfg: cfg}
	if !cfg.Enabled {
		return w
	}
	opts := crwebhook.Options{Host: cfg.Host, Port: cfg.Port, CertDir: cfg.CertDir}
	if cfg.CertMode == CertModeSelfSigned {
		w.rotator = &certs.Rotator{
			Namespace: cfg.Namespace, SecretName: cfg.CertSecretName,
			WebhookConfigName: cfg.WebhookConfigName,
			DNSNames:          certs.ServiceDNSNames(cfg.ServiceName, cfg.Namespace),
			IPAddresses:       cfg.ExtraIPs,
		}
		opts.TLSOpts = append(opts.TLSOpts, func(c *tls.Config) { c.GetCertificate = w.rotator.GetCertificate })
	}
	// No HTTP/2: it is the surface of the 2023 rapid-reset attacks, and the API server speaks HTTP/1.1 to
	// webhooks just as well.
	opts.TLSOpts = append(opts.TLSOpts, func(c *tls.Config) {
		c.NextProtos = []string{"http/1.1"}
		c.MinVersion = tls.VersionTLS12
	})
	w.server = crwebhook.NewServer(opts)
	return w
}

// Server is the manager's webhook server (ctrl.Options.WebhookServer); nil when disabled.
func (w *Webhook) Server() crwebhook.Server { return w.server }

// Rotator is the certificate rotator in self-signed mode, nil otherwise.
func (w *Webhook) Rotator() *certs.Rotator { return w.rotator }

// Setup registers the injection handler on the manager's webhook server, adds the certificate rotator (in
// self-signed mode) and a readiness check that holds the pod out of the webhook Service until it can serve
// TLS.
func (w *Webhook) Setup(mgr ctrl.Manager) error {
	if !w.cfg.Enabled {
		return nil
	}
	srv := mgr.GetWebhookServer()
	srv.Register(Path, &crwebhook.Admission{Handler: &Injector{
		Options: w.cfg.Injection,
		Decoder: admission.NewDecoder(mgr.GetScheme()),
	}})
	if w.rotator != nil {
		w.rotator.Client = mgr.GetClient()
		w.rotator.Reader = mgr.GetAPIReader()
		if err := mgr.Add(w.rotator); err != nil {
			return fmt.Errorf("add webhook certificate rotator: %w", err)
		}
		if err := mgr.AddReadyzCheck("webhook-certificate", w.rotator.ReadyCheck); err != nil {
			return fmt.Errorf("add webhook certificate readiness check: %w", err)
		}
	}
	if err := mgr.AddReadyzCheck("webhook", srv.StartedChecker()); err != nil {
		return fmt.Errorf("add webhook readiness check: %w", err)
	}
	return nil
}
