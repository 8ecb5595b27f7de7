package sandbox

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// testAzure wraps h as a server at https://a.lanyard.test:8443 with vaults at
// NAME.vault.lanyard.test:8443 serves it.
func testAzure(h http.Handler) http.Handler {
	az := &AzureNames{PublicURL: "https://a.lanyard.test:8443/", VaultResource: "https://vault.lanyard.test:8443",
		VaultHost: func(name string) string { return name + ".vault.lanyard.test:8443" }}
	return az.Wrap(h)
}

func do(h http.Handler, method, host, path, auth, body string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, "https://"+host+path, rd)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// TestAzureNamesMapsAnswers: a request for a vault is served as the vault's Lanyard host, one
// for Graph or ARM as the server's own; the challenge, the ids in an answer, a Graph nextLink
// and an ARM Location come back with Azure's names, whether the answer is short (sent whole,
// with its length), long or flushed (mapped as it streams); a text answer, a HEAD and a request
// for a host that is not Azure's pass untouched.
func TestAzureNamesMapsAnswers(t *testing.T) {
	var mu sync.Mutex
	var gotHost, gotEncoding string
	long := strings.Repeat(`{"id":"https://a.lanyard.test:8443/v1.0/groups/x","n":"https://a.lanyard.test:8443"},`, 3000)
	h := testAzure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotHost, gotEncoding = r.Host, r.Header.Get("Accept-Encoding")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		switch {
		case r.Header.Get("Authorization") == "" && strings.HasPrefix(r.Host, "kv1."):
			w.Header().Set("WWW-Authenticate", `Bearer authorization="https://a.lanyard.test:8443/tid", resource="https://vault.lanyard.test:8443"`)
			w.WriteHeader(401)
			_, _ = io.WriteString(w, `{"error":{"code":"Unauthorized"}}`)
		case strings.HasPrefix(r.Host, "kv1."):
			w.Header().Set("Content-Length", "70") // the handler's own length, for the unmapped answer
			_, _ = io.WriteString(w, `{"value":"v","id":"https://kv1.vault.lanyard.test:8443/secrets/s/abc"}`)
		case r.URL.Path == "/flushed":
			_, _ = io.WriteString(w, `[`)
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, long+`{}]`)
		case r.URL.Path == "/long": // over maxBuffered, never flushed
			for i := 0; i < 3; i++ {
				_, _ = io.WriteString(w, long)
			}
		case r.URL.Path == "/plain":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, `https://a.lanyard.test:8443/v1.0/x`)
		case strings.HasPrefix(r.URL.Path, "/subscriptions"):
			w.Header().Set("Location", "https://a.lanyard.test:8443/subscriptions/s/providers/x?api-version=1")
			w.WriteHeader(202)
		default:
			_, _ = io.WriteString(w, `{"@odata.nextLink":"https://a.lanyard.test:8443/v1.0/groups?$skiptoken=x","identifierUris":["https://a.lanyard.test:8443"]}`)
		}
	}))
	rec := do(h, "GET", "kv1.vault.azure.net", "/x", "", "")
	if gotHost != "kv1.vault.lanyard.test:8443" || gotEncoding != "" || rec.Code != 401 ||
		rec.Header().Get("WWW-Authenticate") != `Bearer authorization="https://login.microsoftonline.com/tid", resource="https://vault.azure.net"` {
		t.Fatalf("challenge: host %q (Accept-Encoding %q), %d %q", gotHost, gotEncoding, rec.Code, rec.Header().Get("WWW-Authenticate"))
	}
	if rec := do(h, "GET", "KV1.vault.azure.net:443", "/x", "Bearer x", ""); rec.Body.String() != `{"value":"v","id":"https://kv1.vault.azure.net/secrets/s/abc"}` ||
		rec.Header().Get("Content-Length") != fmt.Sprint(rec.Body.Len()) {
		t.Errorf("vault answer: %s (length %q)", rec.Body.String(), rec.Header().Get("Content-Length"))
	}
	rec = do(h, "GET", "graph.microsoft.com", "/x", "Bearer x", "")
	if gotHost != "a.lanyard.test:8443" || rec.Body.String() != `{"@odata.nextLink":"https://graph.microsoft.com/v1.0/groups?$skiptoken=x","identifierUris":["https://a.lanyard.test:8443"]}` {
		t.Errorf("graph answer (host %q): %s", gotHost, rec.Body.String())
	}
	rec = do(h, "GET", "management.azure.com", "/subscriptions/s", "Bearer x", "")
	if rec.Code != 202 || rec.Header().Get("Location") != "https://management.azure.com/subscriptions/s/providers/x?api-version=1" {
		t.Errorf("ARM Location: %d %q", rec.Code, rec.Header().Get("Location"))
	}
	if rec := do(h, "GET", "login.microsoftonline.com", "/x", "", ""); gotHost != "a.lanyard.test:8443" ||
		!strings.Contains(rec.Body.String(), `"https://a.lanyard.test:8443/v1.0/groups`) {
		t.Errorf("the token service's answer was mapped (host %q): %s", gotHost, rec.Body.String())
	}
	if rec := do(h, "GET", "example.com", "/x", "", ""); gotHost != "example.com" || gotEncoding != "gzip" ||
		!strings.Contains(rec.Body.String(), `"https://a.lanyard.test:8443/v1.0/groups`) {
		t.Errorf("a name that is not Azure's was changed: host %q, %s", gotHost, rec.Body.String())
	}
	if rec := do(h, "GET", "vault.azure.net", "/x", "", ""); rec.Code != 404 {
		t.Errorf("vault.azure.net itself: %d", rec.Code)
	}
	flushed := "[" + strings.ReplaceAll(long, "https://a.lanyard.test:8443/v1.0", "https://graph.microsoft.com/v1.0") + "{}]"
	if rec := do(h, "GET", "graph.microsoft.com", "/flushed", "Bearer x", ""); rec.Body.String() != flushed || rec.Header().Get("Content-Length") != "" {
		t.Errorf("a flushed answer: %d bytes reached the client (length %q), want %d mapped", rec.Body.Len(), rec.Header().Get("Content-Length"), len(flushed))
	}
	want := strings.Repeat(strings.ReplaceAll(long, "https://a.lanyard.test:8443/v1.0", "https://graph.microsoft.com/v1.0"), 3)
	if rec := do(h, "GET", "graph.microsoft.com", "/long", "Bearer x", ""); rec.Body.String() != want {
		t.Errorf("a long answer: %d bytes reached the client, want %d mapped", rec.Body.Len(), len(want))
	}
	if rec := do(h, "GET", "graph.microsoft.com", "/plain", "Bearer x", ""); rec.Body.String() != `https://a.lanyard.test:8443/v1.0/x` {
		t.Errorf("a text answer was changed: %s", rec.Body.String())
	}
	if rec := do(h, "HEAD", "graph.microsoft.com", "/x", "Bearer x", ""); rec.Code != 200 {
		t.Errorf("HEAD: %d", rec.Code)
	}
}

// chunked writes src to a mapWriter over a buffer, chunk bytes at a time (all at once for 0).
func chunked(m *mapper, src []byte, chunk int) []byte {
	var out bytes.Buffer
	mw := &mapWriter{w: &out, m: m}
	if chunk == 0 {
		chunk = len(src)
	}
	for len(src) > 0 {
		k := min(chunk, len(src))
		_, _ = mw.Write(src[:k])
		src = src[k:]
	}
	_ = mw.Close()
	return out.Bytes()
}

func TestMapWriter(t *testing.T) {
	m := newMapper([][2]string{{"https://localhost:8443/v1.0", "https://graph.microsoft.com/v1.0"}, {"https://lan:1/v1.0", "https://graph.microsoft.com/v1.0"}})
	src := []byte(strings.Repeat(`{"a":"https://localhost:8443/v1.0/x","b":"https://lan:1/v1.0","c":"https://localhost:8443/v2","d":"https://https://lan:1/v1.0"}`, 500) + "https://localhost:8443/v1.")
	want := bytes.ReplaceAll(bytes.ReplaceAll(src, []byte("https://localhost:8443/v1.0"), []byte("https://graph.microsoft.com/v1.0")), []byte("https://lan:1/v1.0"), []byte("https://graph.microsoft.com/v1.0"))
	if got := m.mapAll(nil, src); !bytes.Equal(got, want) {
		t.Fatal("mapAll differs from bytes.ReplaceAll")
	}
	for _, chunk := range []int{0, 1, 7, len(src) / 2, streamChunk + 3} {
		if got := chunked(m, src, chunk); !bytes.Equal(got, want) {
			t.Errorf("streamed in chunks of %d: %d bytes, want %d", chunk, len(got), len(want))
		}
	}
	if m.first([]byte(`{"id":"https://example.com/v1.0"}`)) != -1 || m.first(src) != 6 {
		t.Error("first")
	}
}

// TestMapperNeedsDelimiter: a prefix is mapped only where a delimiter or the end of the input
// follows it, in one pass and as the answer streams (the byte after a prefix may come in a later
// write).
func TestMapperNeedsDelimiter(t *testing.T) {
	vault := newMapper([][2]string{{"https://kv.vault.lanyard.test", "https://kv.vault.azure.net"}})
	graph := newMapper([][2]string{{"https://a.lanyard.test:8443/v1.0", "https://graph.microsoft.com/v1.0"}, {"https://lan:1/v1.0", "https://graph.microsoft.com/v1.0"}})
	for _, tc := range []struct {
		m    *mapper
		pair [2]string // a mapped prefix and what it becomes
		kept []string  // what follows the prefix in cases not mapped
		ends []string  // what follows it in cases mapped
	}{
		{vault, [2]string{"https://kv.vault.lanyard.test", "https://kv.vault.azure.net"},
			[]string{"ing/x", ".evil/x", ":8443/x", "-2/x", "x", "_"},
			[]string{"/secrets/s", `"`, "?a=1", "#f", `\/x`, ",", "'", " ", "\t", "\n", "\r"}},
		{graph, [2]string{"https://a.lanyard.test:8443/v1.0", "https://graph.microsoft.com/v1.0"},
			[]string{"0/x", "beta/x", ".1", "-x"},
			[]string{"/users", `"`, "?$top=1"}},
	} {
		var src, want []byte
		for _, k := range tc.kept {
			src = append(src, `{"u":"`+tc.pair[0]+k+`"}`...)
			want = append(want, `{"u":"`+tc.pair[0]+k+`"}`...)
		}
		for _, e := range tc.ends {
			src = append(src, `{"u":"`+tc.pair[0]+e+`"}`...)
			want = append(want, `{"u":"`+tc.pair[1]+e+`"}`...)
		}
		// a long run, so that prefixes fall at every place of the streamed writes, then one at
		// the very end of the input (mapped) and, in another input, one cut there (not mapped)
		src, want = bytes.Repeat(src, 200), bytes.Repeat(want, 200)
		for _, in := range []struct{ src, want []byte }{
			{append(append([]byte{}, src...), tc.pair[0]...), append(append([]byte{}, want...), tc.pair[1]...)},
			{append(append([]byte{}, src...), tc.pair[0][:len(tc.pair[0])-1]...), append(append([]byte{}, want...), tc.pair[0][:len(tc.pair[0])-1]...)},
		} {
			if got := tc.m.mapAll(nil, in.src); !bytes.Equal(got, in.want) {
				t.Errorf("%s, one pass:\n got %.300s\nwant %.300s", tc.pair[0], got, in.want)
			}
			for _, chunk := range []int{1, 5, len(in.src) / 2} {
				if got := chunked(tc.m, in.src, chunk); !bytes.Equal(got, in.want) {
					t.Errorf("%s, streamed in chunks of %d:\n got %.300s\nwant %.300s", tc.pair[0], chunk, got, in.want)
				}
			}
		}
		if tc.m.first([]byte(`{"u":"`+tc.pair[0]+tc.kept[0]+`"}`)) != -1 {
			t.Errorf("%s: first found a prefix followed by %q", tc.pair[0], tc.kept[0])
		}
	}
}
