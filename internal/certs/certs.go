// Package certs issues and rotates the webhook's serving certificate when cert-manager is not used.
//
// A private CA (ECDSA P-256) signs a short-lived serving certificate for the webhook Service's DNS names. Both
// live in one Secret, which is the shared state of every operator replica: whichever replica sees the
// certificate due for renewal writes the new one (optimistic concurrency on the Secret's resourceVersion), and
// the others pick it up on their next check. The CA bundle in the MutatingWebhookConfiguration carries the
// previous CA as well until it expires, so a replica still serving a certificate signed by the previous CA
// keeps being trusted while the new one spreads.
package certs

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"
)

// Keys of the certificate Secret. tls.crt/tls.key make it a valid kubernetes.io/tls Secret; ca.crt is the CA
// bundle (current CA first, then the previous one until it expires), as cert-manager names it.
const (
	CAFile    = "ca.crt"
	CAKeyFile = "ca.key"
	CertFile  = "tls.crt"
	KeyFile   = "tls.key"
)

// backdate is subtracted from NotBefore so that an API server whose clock runs a little behind ours still
// accepts a certificate issued a moment ago.
const backdate = time.Hour

// Authority is a CA that can sign serving certificates.
type Authority struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// CertPEM and KeyPEM are the encoded forms of Cert and Key.
	CertPEM, KeyPEM []byte
}

// NewAuthority creates a self-signed CA valid from now for validity.
func NewAuthority(commonName string, now time.Time, validity time.Duration) (*Authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// It signs leaf certificates only.
		MaxPathLenZero: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("sign CA certificate: %w", err)
	}
	return authorityFromDER(der, key)
}

func authorityFromDER(der []byte, key *ecdsa.PrivateKey) (*Authority, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	return &Authority{Cert: cert, Key: key, CertPEM: encodeCert(der), KeyPEM: keyPEM}, nil
}

// ParseAuthority decodes a CA from PEM. Only the first certificate of certPEM is the CA; the rest of a bundle
// is ignored here.
func ParseAuthority(certPEM, keyPEM []byte) (*Authority, error) {
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	ca := certs[0]
	if !ca.IsCA {
		return nil, errors.New("CA certificate is not a CA")
	}
	if !key.PublicKey.Equal(ca.PublicKey) {
		return nil, errors.New("CA key does not match the CA certificate")
	}
	return authorityFromDER(ca.Raw, key)
}

// Issue signs a serving certificate for dnsNames and ips valid from now for validity, but never past the CA's
// own expiry (a client would reject the chain from then on anyway). It returns the certificate and key as PEM.
func (a *Authority) Issue(dnsNames []string, ips []net.IP, now time.Time, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if len(dnsNames) == 0 && len(ips) == 0 {
		return nil, nil, errors.New("serving certificate needs at least one DNS name or IP address")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate serving key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(validity)
	if notAfter.After(a.Cert.NotAfter) {
		notAfter = a.Cert.NotAfter
	}
	cn := "llmroute-webhook"
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     dnsNames,
		IPAddresses:  ips,
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, &key.PublicKey, a.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("sign serving certificate: %w", err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(der), keyPEM, nil
}

// ParseCertificates decodes every CERTIFICATE block of a PEM bundle; it fails on an empty bundle.
func ParseCertificates(bundle []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := bundle
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate in PEM data")
	}
	return out, nil
}

// Bundle encodes certificates as one PEM bundle, in order.
func Bundle(certs ...*x509.Certificate) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		b.Write(encodeCert(c.Raw))
	}
	return b.Bytes()
}

// ServingCertValid reports whether certPEM/keyPEM form a usable serving certificate signed by ca, covering
// exactly dnsNames and ips, and valid at now. A certificate for a different set of names is not reused: the
// Service name or namespace changed, and the API server would reject it.
func ServingCertValid(certPEM, keyPEM []byte, ca *x509.Certificate, dnsNames []string, ips []net.IP, now time.Time) (*x509.Certificate, bool) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, false
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, false
		}
	}
	if leaf.CheckSignatureFrom(ca) != nil || now.Before(leaf.NotBefore) || !now.Before(leaf.NotAfter) {
		return leaf, false
	}
	if !sameStrings(leaf.DNSNames, dnsNames) || !sameIPs(leaf.IPAddresses, ips) {
		return leaf, false
	}
	return leaf, true
}

func sameStrings(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func sameIPs(a, b []net.IP) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.ContainsFunc(b, x.Equal) {
			return false
		}
	}
	return true
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generate serial number: %w", err)
	}
	return n, nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func parseKey(keyPEM []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	switch block.Type {
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		ec, ok := k.(*ecdsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("key type %T, want ECDSA", k)
		}
		return ec, nil
	default:
		return nil, fmt.Errorf("PEM block %q, want a private key", block.Type)
	}
}
