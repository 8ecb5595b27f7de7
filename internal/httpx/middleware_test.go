package httpx

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestAccessLogLevel: at the default level (info) a successful request writes no line, a 5xx
// answer writes one at warn, and AccessLog puts every request at info; at debug every request
// has its line. No line holds the query (tokens may travel there).
func TestAccessLogLevel(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	for _, tc := range []struct {
		name      string
		level     slog.Level
		accessLog bool
		path      string
		want      string // "" for no line
	}{
		{"info-ok", slog.LevelInfo, false, "/ok", ""},
		{"info-5xx", slog.LevelInfo, false, "/fail", "level=WARN"},
		{"access-log-ok", slog.LevelInfo, true, "/ok", "level=INFO"},
		{"debug-ok", slog.LevelDebug, false, "/ok", "level=DEBUG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tc.level}))
			h := (&Middleware{Log: log, AccessLog: tc.accessLog}).Wrap(handler)
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", tc.path+"?secret=s3cr3t", nil))
			out := buf.String()
			if tc.want == "" && out != "" || tc.want != "" && (!strings.Contains(out, tc.want) || !strings.Contains(out, "msg=http")) {
				t.Errorf("log %q, want a line with %q", out, tc.want)
			}
			if strings.Contains(out, "s3cr3t") {
				t.Errorf("the access line holds the query: %q", out)
			}
		})
	}
}
