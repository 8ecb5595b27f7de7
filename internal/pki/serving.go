package pki

import (
	"context"
	"crypto/tls"
	"log/slog"
	"sync/atomic"
	"time"
)

// DefaultServingLifetime is how long a serving certificate is valid when ServingOptions does not
// say; it is renewed after two thirds of that.
const DefaultServingLifetime = 7 * 24 * time.Hour

// ServingOptions says what serving certificates ServingCerts issues.
type ServingOptions struct {
	Hosts       []string      // extra names and IP addresses (the loopback names are always on)
	VaultDomain string        // the vault domain; the certificate covers it and *.VaultDomain
	Lifetime    time.Duration // 0 means DefaultServingLifetime
	// Exact: the certificate covers Hosts (DNS names) alone, without the loopback names (the
	// sandbox CA's, whose name constraint permits Azure's names only).
	Exact bool
	Log   *slog.Logger // nil means slog.Default()
	// NewTicker starts the ticker Run checks on, every d; nil means time.NewTicker. Tests pass
	// a channel they drive.
	NewTicker func(d time.Duration) (tick <-chan time.Time, stop func())
}

// ServingCerts holds the server's current serving certificate and renews it in place. Its
// GetCertificate goes in a tls.Config (see TLSConfig), so listeners pick up a renewed
// certificate on their next handshake.
type ServingCerts struct {
	ca   *CA
	opts ServingOptions
	cur  atomic.Pointer[serving]
}

type serving struct {
	cert    *tls.Certificate
	renewAt time.Time
}

// NewServingCerts issues a first serving certificate from ca and returns the holder. The CA's
// clock decides when a certificate is due for renewal.
func NewServingCerts(ca *CA, opts ServingOptions) (*ServingCerts, error) {
	if opts.Lifetime == 0 {
		opts.Lifetime = DefaultServingLifetime
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.NewTicker == nil {
		opts.NewTicker = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	s := &ServingCerts{ca: ca, opts: opts}
	if err := s.Renew(); err != nil {
		return nil, err
	}
	return s, nil
}

// Renew issues a new serving certificate now and makes it the current one.
func (s *ServingCerts) Renew() error {
	issued := s.ca.now()
	var cert *tls.Certificate
	var err error
	if s.opts.Exact {
		cert, err = s.ca.IssueNames(s.opts.Hosts, s.opts.Lifetime)
	} else {
		cert, err = s.ca.IssueServing(s.opts.Hosts, s.opts.VaultDomain, s.opts.Lifetime)
	}
	if err != nil {
		return err
	}
	life := cert.Leaf.NotAfter.Sub(issued)
	s.cur.Store(&serving{cert: cert, renewAt: issued.Add(life * 2 / 3)})
	return nil
}

// Current returns the current serving certificate.
func (s *ServingCerts) Current() *tls.Certificate { return s.cur.Load().cert }

// RenewAt returns when the current certificate is due for renewal.
func (s *ServingCerts) RenewAt() time.Time { return s.cur.Load().renewAt }

// GetCertificate is a tls.Config.GetCertificate that returns the current serving certificate.
func (s *ServingCerts) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.Current(), nil
}

// TLSConfig returns a server configuration that serves the current certificate, with TLS 1.2
// as the minimum version. It asks for, but does not require, a client certificate signed by the
// CA (the agent API's callers present one; a presented certificate that does not verify fails
// the handshake).
func (s *ServingCerts) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: s.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
		ClientAuth:     tls.VerifyClientCertIfGiven,
		ClientCAs:      s.ca.Pool(),
	}
}

// checkEvery is how often Run looks at the clock: often enough to renew within a small
// fraction of the lifetime, and at most once a second.
func (s *ServingCerts) checkEvery() time.Duration {
	return min(max(s.opts.Lifetime/100, time.Second), time.Minute)
}

// Run renews the serving certificate whenever two thirds of its lifetime have passed, until ctx
// is done. A failed renewal is logged and retried on the next check; the current certificate
// stays in use meanwhile.
func (s *ServingCerts) Run(ctx context.Context) error {
	tick, stop := s.opts.NewTicker(s.checkEvery())
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			s.renewIfDue(ctx)
		}
	}
}

func (s *ServingCerts) renewIfDue(ctx context.Context) {
	if s.ca.now().Before(s.RenewAt()) {
		return
	}
	if err := s.Renew(); err != nil {
		s.opts.Log.ErrorContext(ctx, "renewing the serving certificate", "err", err,
			"not_after", s.Current().Leaf.NotAfter)
		return
	}
	leaf := s.Current().Leaf
	s.opts.Log.InfoContext(ctx, "renewed the serving certificate", "serial", leaf.SerialNumber.Text(16),
		"not_after", leaf.NotAfter, "renew_at", s.RenewAt())
}
