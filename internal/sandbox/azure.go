package sandbox

import (
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// AzureNames lets a Lanyard server answer at Azure's names (issue 12). Inside a sandbox,
// graph.microsoft.com, management.azure.com, login.microsoftonline.com and NAME.vault.azure.net
// resolve to the agent's relay, which passes each connection to a server byte for byte
// (Splice); the server presents the sandbox CA's certificate for those names and serves them
// with this wrapper: graph.microsoft.com as the directory API, management.azure.com as the
// management API, login.microsoftonline.com as the token service, NAME.vault.azure.net as the
// vault NAME. What the server answers with its own URLs is mapped to Azure's names, so that a
// client sees what it would see on Azure: the Key Vault challenge names https://vault.azure.net
// (the Key Vault clients require the vault's host to end with the challenge's resource) and
// login.microsoftonline.com, and the nextLinks and ids in JSON answers, and the Location and
// Azure-AsyncOperation headers, name Azure's hosts (clients follow them as they are). The token
// service's documents keep Lanyard's issuer: the tokens carry it.
//
// Requests for any other host pass through untouched.
type AzureNames struct {
	// PublicURL is the server's public URL, https://host[:port]: the URL its answers name, and
	// the host the requests for Azure's API hosts are served as.
	PublicURL string
	// VaultHost returns the Lanyard host[:port] of the vault name (as its answers name it).
	VaultHost func(name string) string
	// VaultResource is the resource the vault's challenge names, https://domain[:port].
	VaultResource string
	Log           *slog.Logger

	once       sync.Once
	publicHost string
	challenge  *strings.Replacer
	mappers    sync.Map // Azure host (not a vault's) → *mapper
}

// maxBuffered bounds the JSON answers that are mapped whole and sent with their length; a longer
// answer, or one flushed as it is written, is mapped as it streams (and sent without a length).
const maxBuffered = 64 << 10

// Wrap returns next, serving Azure's names as AzureNames says.
func (az *AzureNames) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api, vault := Match(r.Host)
		if api == NotAzure {
			next.ServeHTTP(w, r)
			return
		}
		az.once.Do(az.init)
		if api == Vault && vault == "" {
			http.Error(w, "vault.azure.net names no vault: ask NAME.vault.azure.net", http.StatusNotFound)
			return
		}
		azureHost := strings.ToLower(strings.TrimSuffix(r.Host, "."))
		if h, _, err := net.SplitHostPort(azureHost); err == nil {
			azureHost = strings.TrimSuffix(h, ".")
		}
		var m *mapper
		switch api {
		case Vault:
			host := az.VaultHost(vault)
			r.Host = host
			m = newMapper([][2]string{{"https://" + host, "https://" + azureHost}}) // vault names are many: made for the request
		case Graph, Management:
			r.Host = az.publicHost
			m = az.mapperFor(azureHost, api)
		default: // the token service: its documents keep Lanyard's issuer, which the tokens carry
			r.Host = az.publicHost
		}
		r.URL.Host = ""
		r.Header.Del("Accept-Encoding") // answers are mapped as text
		r.Header.Del("Forwarded")
		r.Header.Del("X-Forwarded-For")
		if m == nil {
			next.ServeHTTP(w, r)
			return
		}
		aw := &azureWriter{w: w, m: m, az: az, vault: api == Vault, head: r.Method == http.MethodHead}
		defer aw.finish()
		next.ServeHTTP(aw, r)
	})
}

func (az *AzureNames) init() {
	pub := strings.TrimRight(az.PublicURL, "/")
	az.publicHost = strings.TrimPrefix(pub, "https://")
	if az.Log == nil {
		az.Log = slog.Default()
	}
	az.challenge = strings.NewReplacer(
		`resource="`+az.VaultResource+`"`, `resource="https://vault.azure.net"`,
		`authorization="`+pub+`/`, `authorization="https://login.microsoftonline.com/`,
		`authorization_uri="`+pub+`/`, `authorization_uri="https://login.microsoftonline.com/`)
}

// mapperFor returns the mapping of the server's URLs of api to azureHost (one of the few Azure
// hosts Match knows), made once.
func (az *AzureNames) mapperFor(azureHost string, api API) *mapper {
	if m, ok := az.mappers.Load(azureHost); ok {
		return m.(*mapper)
	}
	paths := []string{"/v1.0"}
	if api == Management {
		paths = []string{"/subscriptions", "/providers"}
	}
	pub := strings.TrimRight(az.PublicURL, "/")
	var pairs [][2]string
	for _, p := range paths {
		pairs = append(pairs, [2]string{pub + p, "https://" + azureHost + p})
	}
	m, _ := az.mappers.LoadOrStore(azureHost, newMapper(pairs))
	return m.(*mapper)
}

// azureWriter maps an answer's headers when they are written and its JSON body: whole, sent
// with its length, when it is short and not flushed; else as it streams.
type azureWriter struct {
	w     http.ResponseWriter
	m     *mapper
	az    *AzureNames
	vault bool
	head  bool

	state  int // one of the states below
	code   int // the status held while buffering
	buf    *buffer
	stream *mapWriter
}

const (
	awNew       = iota // nothing written
	awPass             // the body passes untouched (not JSON, compressed, HEAD, no body)
	awBuffering        // a JSON body, held until the handler returns or it grows long
	awStreaming        // a JSON body, mapped as it is written
)

func (a *azureWriter) Header() http.Header { return a.w.Header() }

// Unwrap lets http.ResponseController reach the server's writer.
func (a *azureWriter) Unwrap() http.ResponseWriter { return a.w }

func (a *azureWriter) WriteHeader(code int) {
	if a.state != awNew {
		return
	}
	if code >= 100 && code < 200 {
		a.w.WriteHeader(code) // informational: the answer is still to come
		return
	}
	h := a.w.Header()
	for _, k := range []string{"Location", "Azure-AsyncOperation"} {
		if v := h.Get(k); v != "" {
			h.Set(k, string(a.m.mapAll(nil, []byte(v))))
		}
	}
	if a.vault {
		if ch := h.Values("WWW-Authenticate"); len(ch) > 0 {
			h.Del("WWW-Authenticate")
			for _, v := range ch {
				h.Add("WWW-Authenticate", a.az.challenge.Replace(v))
			}
		}
	}
	if !strings.Contains(h.Get("Content-Type"), "json") || h.Get("Content-Encoding") != "" || a.head ||
		code == http.StatusNoContent || code == http.StatusNotModified {
		a.state = awPass
		a.w.WriteHeader(code)
		return
	}
	a.state, a.code = awBuffering, code
}

func (a *azureWriter) Write(p []byte) (int, error) {
	if a.state == awNew {
		a.WriteHeader(http.StatusOK)
	}
	switch a.state {
	case awPass:
		return a.w.Write(p)
	case awBuffering:
		if a.buf == nil {
			a.buf = getBuffer(0)
		}
		if len(a.buf.b)+len(p) <= maxBuffered {
			a.buf.b = append(a.buf.b, p...)
			return len(p), nil
		}
		if err := a.startStreaming(); err != nil {
			return 0, err
		}
	}
	return a.stream.Write(p)
}

// startStreaming sends the header held, without a length (the mapping may change it), and what
// was held of the body, mapped.
func (a *azureWriter) startStreaming() error {
	a.w.Header().Del("Content-Length")
	a.w.WriteHeader(a.code)
	a.state = awStreaming
	a.stream = &mapWriter{w: a.w, m: a.m}
	if a.buf == nil {
		return nil
	}
	_, err := a.stream.Write(a.buf.b)
	putBuffer(a.buf)
	a.buf = nil
	return err
}

// Flush sends what is mapped so far (a streamed answer: a server-sent document, a long list).
func (a *azureWriter) Flush() {
	if a.state == awNew {
		a.WriteHeader(http.StatusOK)
	}
	if a.state == awBuffering {
		if err := a.startStreaming(); err != nil {
			return
		}
	}
	_ = http.NewResponseController(a.w).Flush()
}

// finish sends a body held whole, mapped, with its length, or the end of a streamed one.
func (a *azureWriter) finish() {
	switch a.state {
	case awBuffering:
		var raw []byte
		if a.buf != nil {
			raw = a.buf.b
		}
		out := raw
		var mapped *buffer
		if a.m.first(raw) >= 0 { // most answers name no Lanyard URL: sent as they came
			mapped = getBuffer(0)
			mapped.b = a.m.mapAll(mapped.b, raw)
			out = mapped.b
		}
		a.w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		a.w.WriteHeader(a.code)
		_, _ = a.w.Write(out)
		if mapped != nil {
			putBuffer(mapped)
		}
		if a.buf != nil {
			putBuffer(a.buf)
		}
	case awStreaming:
		if err := a.stream.Close(); err != nil {
			a.az.Log.Debug("sandbox: the end of a mapped answer was not sent", slog.Any("error", err))
		}
	}
}
