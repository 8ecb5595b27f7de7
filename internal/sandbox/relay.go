package sandbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Relay serves HTTPS for Azure's names inside sandboxes and forwards each request to the
// Lanyard server: graph.microsoft.com to the directory API, management.azure.com to the
// management API, login.microsoftonline.com to the token service, NAME.vault.azure.net to the
// vault NAME. What Lanyard answers with its own URLs is mapped back to Azure's names, so that a
// client sees what it would see on Azure: the Key Vault challenge names https://vault.azure.net
// (the Key Vault clients require the vault's host to end with the challenge's resource), and the
// nextLinks and ids in JSON answers name Azure's hosts (clients follow them as they are).
type Relay struct {
	ServerURL   string         // the Lanyard server, https://host[:port]
	VaultDomain string         // Lanyard's vault domain, host[:port] (as the server's vault_domain)
	Roots       *x509.CertPool // Lanyard's CA
	CA          *CA            // the sandbox CA, whose leaf the relay presents
	Log         *slog.Logger

	proxy     *httputil.ReverseProxy
	server    *url.URL
	vaultHost string // VaultDomain's host
	vaultPort string // the port vault URLs carry ("" for 443)
}

// maxRewrite bounds the JSON answers whose URLs are mapped; a larger one passes as it is.
const maxRewrite = 16 << 20

// Handler returns the relay's HTTP handler (the TLS is the listener's: see TLSConfig).
func (rl *Relay) Handler() (http.Handler, error) {
	u, err := url.Parse(strings.TrimRight(rl.ServerURL, "/"))
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("the sandbox relay needs the server's https URL, not %q", rl.ServerURL)
	}
	rl.server = u
	rl.vaultHost, rl.vaultPort = rl.VaultDomain, ""
	if h, p, err := net.SplitHostPort(rl.VaultDomain); err == nil {
		rl.vaultHost, rl.vaultPort = h, p
	} else if p := u.Port(); p != "" {
		rl.vaultPort = p
	}
	if rl.vaultPort == "443" {
		rl.vaultPort = ""
	}
	if rl.Log == nil {
		rl.Log = slog.Default()
	}
	serverAddr := u.Host
	if u.Port() == "" {
		serverAddr = net.JoinHostPort(u.Hostname(), "443")
	}
	tr := &http.Transport{
		// Every request goes to the server's address; TLS verifies the name the request names
		// (the server's, or a vault's under the vault domain, which its certificate covers).
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, serverAddr)
		},
		TLSClientConfig: &tls.Config{RootCAs: rl.Roots, MinVersion: tls.VersionTLS12},
		// HTTP/1.1 on a pool of connections: under concurrent load it outruns one HTTP/2
		// connection here (measured, docs/performance.md).
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	rl.proxy = &httputil.ReverseProxy{
		Rewrite:        rl.rewrite,
		Transport:      tr,
		ModifyResponse: rl.modifyResponse,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			rl.Log.Warn("sandbox relay: the Lanyard server did not answer", slog.String("host", r.Host), slog.Any("error", err))
			http.Error(w, "the Lanyard server did not answer the sandbox relay", http.StatusBadGateway)
		},
	}
	return http.HandlerFunc(rl.serve), nil
}

// TLSConfig is the relay listener's TLS: the sandbox CA's leaf, HTTP/2 and HTTP/1.1.
func (rl *Relay) TLSConfig() *tls.Config {
	return &tls.Config{GetCertificate: rl.CA.GetCertificate, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12}
}

func (rl *Relay) serve(w http.ResponseWriter, r *http.Request) {
	api, vault := Match(r.Host)
	if api == NotAzure || (api == Vault && vault == "") {
		http.Error(w, "the sandbox relay serves Azure's API hosts only", http.StatusNotFound)
		return
	}
	rl.proxy.ServeHTTP(w, r)
}

// lanyardHost is the host a request for an Azure host goes to at the server.
func (rl *Relay) lanyardHost(azureHost string) string {
	if api, vault := Match(azureHost); api == Vault && vault != "" {
		h := vault + "." + rl.vaultHost
		if rl.vaultPort != "" {
			h = net.JoinHostPort(h, rl.vaultPort)
		}
		return h
	}
	return rl.server.Host
}

// azureHostKey carries the Azure host a request came for to the answer's mapping (the outgoing
// request's Host is Lanyard's).
type azureHostKey struct{}

func (rl *Relay) rewrite(pr *httputil.ProxyRequest) {
	pr.Out = pr.Out.WithContext(context.WithValue(pr.Out.Context(), azureHostKey{}, pr.In.Host))
	host := rl.lanyardHost(pr.In.Host)
	pr.Out.URL.Scheme = "https"
	pr.Out.URL.Host = host
	pr.Out.Host = host
	pr.Out.Header.Del("Accept-Encoding") // answers are mapped as text
	pr.Out.Header.Del("Forwarded")
	pr.Out.Header.Del("X-Forwarded-For")
}

// modifyResponse maps Lanyard's URLs in an answer to Azure's names.
func (rl *Relay) modifyResponse(resp *http.Response) error {
	azureHost, _ := resp.Request.Context().Value(azureHostKey{}).(string)
	azureHost = strings.ToLower(azureHost) // as the client wrote it (a port would be :443)
	if h, _, err := net.SplitHostPort(azureHost); err == nil {
		azureHost = h
	}
	api, _ := Match(azureHost)
	var pairs []string // old, new
	switch api {
	case Vault:
		lh := rl.lanyardHost(azureHost)
		pairs = []string{"https://" + lh, "https://" + azureHost}
	case Graph:
		pairs = []string{rl.ServerURL + "/v1.0", "https://" + azureHost + "/v1.0"}
	case Management:
		pairs = []string{rl.ServerURL + "/subscriptions", "https://" + azureHost + "/subscriptions",
			rl.ServerURL + "/providers", "https://" + azureHost + "/providers"}
	default:
		return nil // the token service's documents keep Lanyard's issuer: tokens carry it
	}
	for _, h := range []string{"Location", "Azure-AsyncOperation"} {
		if v := resp.Header.Get(h); v != "" {
			resp.Header.Set(h, strings.NewReplacer(pairs...).Replace(v))
		}
	}
	if api == Vault {
		if ch := resp.Header.Values("WWW-Authenticate"); len(ch) > 0 {
			resp.Header.Del("WWW-Authenticate")
			for _, v := range ch {
				resp.Header.Add("WWW-Authenticate", rl.azureChallenge(v))
			}
		}
	}
	if !strings.Contains(resp.Header.Get("Content-Type"), "json") || resp.ContentLength > maxRewrite || resp.Header.Get("Content-Encoding") != "" {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRewrite+1))
	if err != nil {
		resp.Body.Close()
		return err
	}
	if len(body) > maxRewrite {
		// Too long to map (an answer of unknown length): passed on as it is, what was read
		// first and then the rest.
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
		return nil
	}
	resp.Body.Close()
	for i := 0; i < len(pairs); i += 2 {
		if bytes.Contains(body, []byte(pairs[i])) { // most answers name no URL: no copy
			body = bytes.ReplaceAll(body, []byte(pairs[i]), []byte(pairs[i+1]))
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}

// azureChallenge maps the vault's challenge to Azure's: the resource https://vault.azure.net
// (Lanyard accepts tokens for it at every vault), the authority at login.microsoftonline.com.
func (rl *Relay) azureChallenge(v string) string {
	res := "https://" + rl.vaultHost
	if rl.vaultPort != "" {
		res = "https://" + net.JoinHostPort(rl.vaultHost, rl.vaultPort)
	}
	return strings.NewReplacer(
		`resource="`+res+`"`, `resource="https://vault.azure.net"`,
		`authorization="`+rl.ServerURL+`/`, `authorization="https://login.microsoftonline.com/`,
		`authorization_uri="`+rl.ServerURL+`/`, `authorization_uri="https://login.microsoftonline.com/`,
	).Replace(v)
}
