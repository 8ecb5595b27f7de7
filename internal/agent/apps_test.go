package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func lines(path string) []string {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimSpace(string(raw)), "\n")
}

func TestSupervisorRestartsWithIdentityEnv(t *testing.T) {
	s := newStub(t)
	a := startAgent(t, s, nil)
	a.restartMin = 10 * time.Millisecond
	t.Setenv("IDENTITY_SERVER_THUMBPRINT", "would-select-service-fabric")
	out := filepath.Join(t.TempDir(), "starts")
	// Each run records its environment, writes 700 kB of output and crashes.
	script := `echo "$IDENTITY_HEADER|$MSI_SECRET|$APPSETTING_WEBSITE_SITE_NAME|$IDENTITY_ENDPOINT|$MSI_ENDPOINT|` +
		`$SSL_CERT_FILE|$NODE_EXTRA_CA_CERTS|$REQUESTS_CA_BUNDLE|${IDENTITY_SERVER_THUMBPRINT:-unset}|$MARK|$(pwd)" >> "$OUT"
head -c 700000 /dev/zero | tr '\0' x; echo; echo to-stderr >&2; exit 3`
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env, err := a.StartApp(ctx, AppConfig{Site: siteA, Name: "crasher", Command: []string{"/bin/sh", "-c", script}, Dir: dir,
		Env: map[string]string{"OUT": out, "MARK": "configured", "IDENTITY_HEADER": "overridden?"}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "four runs", func() bool { return len(lines(out)) >= 4 })
	if e, err := a.AppEnv("crasher"); err != nil || e["APPSETTING_WEBSITE_SITE_NAME"] != "crasher" {
		t.Errorf("AppEnv: %v %v", e, err)
	}
	cancel()
	waitFor(t, "the app to stop", func() bool { return a.apps.get("crasher") == nil })

	headers := map[string]bool{}
	for i, line := range lines(out) {
		f := strings.Split(line, "|")
		if len(f) != 11 {
			t.Fatalf("run %d: %q", i, line)
		}
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(f[0]) || f[1] != f[0] || headers[f[0]] {
			t.Errorf("run %d: header %q, MSI_SECRET %q: want a new 64-hex header each run, the same in both", i, f[0], f[1])
		}
		headers[f[0]] = true
		if i == 0 && f[0] != env["IDENTITY_HEADER"] {
			t.Error("the first run's header is not the one StartApp returned")
		}
		if f[2] != "crasher" || f[3] != env["IDENTITY_ENDPOINT"] || f[4] != f[3] || !strings.HasSuffix(f[3], PathAppService) {
			t.Errorf("run %d: site name and endpoints %q", i, f[2:5])
		}
		if f[5] != a.bundle || f[6] != a.bundle || f[7] != a.bundle {
			t.Errorf("run %d: CA bundle variables %q", i, f[5:8])
		}
		if f[8] != "unset" || f[9] != "configured" || f[10] != dir {
			t.Errorf("run %d: inherited thumbprint %q, configured %q, dir %q", i, f[8], f[9], f[10])
		}
	}
	if n := testutil.ToFloat64(a.met.restarts.WithLabelValues("crasher")); n < 3 {
		t.Errorf("%v restarts counted", n)
	}

	// The log is bounded: at most maxAppLog now and in the one old file.
	logPath := a.AppLogPath("crasher")
	if logPath != LogPath(a.cfg.StateDir, "crasher") {
		t.Errorf("AppLogPath %s", logPath)
	}
	cur, err1 := os.Stat(logPath)
	old, err2 := os.Stat(logPath + ".1")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if cur.Size() > maxAppLog || old.Size() > maxAppLog || cur.Mode().Perm() != 0o600 {
		t.Errorf("log sizes %d and %d, mode %o; want at most %d, 600", cur.Size(), old.Size(), cur.Mode().Perm(), maxAppLog)
	}
	both, _ := os.ReadFile(logPath + ".1")
	now, _ := os.ReadFile(logPath)
	both = append(both, now...)
	if !strings.Contains(string(both), "to-stderr") || !strings.Contains(string(both), "exit status 3; restarting in") {
		t.Error("the log lacks stderr or the agent's restart notes")
	}

	// The bundle has Lanyard's CA (and the system's roots when the host has them).
	bundle, err := os.ReadFile(a.bundle)
	if err != nil || !strings.Contains(string(bundle), strings.TrimSpace(string(mustRead(t, s.caFile)))) {
		t.Errorf("the CA bundle lacks Lanyard's CA: %v", err)
	}
	if _, err := os.Stat(systemRoots[0]); err == nil && strings.Count(string(bundle), "BEGIN CERTIFICATE") < 2 {
		t.Error("the CA bundle lacks the system roots")
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// alive reports whether a process with pid exists (and is not a zombie we could not see).
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return err == nil
	}
	// field 3 is the state; Z is a zombie, gone for our purposes
	f := strings.Fields(string(stat))
	return len(f) < 3 || f[2] != "Z"
}

func readPids(t *testing.T, path string, n int) []int {
	t.Helper()
	// The shell may have created the file but not yet written to it: wait for n whole numbers.
	var pids []int
	waitFor(t, "the pids in "+path, func() bool {
		pids = pids[:0]
		for _, l := range lines(path) {
			pid, err := strconv.Atoi(strings.TrimSpace(l))
			if err != nil {
				return false
			}
			pids = append(pids, pid)
		}
		return len(pids) >= n
	})
	return pids
}

func TestSupervisorStopsApps(t *testing.T) {
	s := newStub(t)
	tmp := t.TempDir()
	configured := filepath.Join(tmp, "configured")
	a := startAgent(t, s, func(c *Config) {
		c.Apps = []AppConfig{{Site: siteB, Command: []string{"/bin/sh", "-c", `echo $$ > "$OUT"; exec sleep 1000`},
			Env: map[string]string{"OUT": configured}}}
	})
	a.stopTimeout = 200 * time.Millisecond
	if e, err := a.AppEnv("app-b"); err != nil || e["APPSETTING_WEBSITE_SITE_NAME"] != "app-b" {
		t.Fatalf("a configured app's env: %v %v", e, err)
	}
	// One app stops on SIGTERM; the other ignores it (and so does its child) and gets SIGKILL.
	polite, stubborn := filepath.Join(tmp, "polite"), filepath.Join(tmp, "stubborn")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := a.StartApp(ctx, AppConfig{Site: siteA, Name: "polite",
		Command: []string{"/bin/sh", "-c", `echo $$ > "$OUT"; exec sleep 1000`}, Env: map[string]string{"OUT": polite}}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.StartApp(ctx, AppConfig{Site: siteA, Name: "stubborn",
		Command: []string{"/bin/sh", "-c", `trap '' TERM; echo $$ > "$OUT"; sleep 1000 & echo $! >> "$OUT"; wait`}, Env: map[string]string{"OUT": stubborn}}); err != nil {
		t.Fatal(err)
	}
	pids := append(readPids(t, polite, 1), readPids(t, stubborn, 2)...)
	cpids := readPids(t, configured, 1)
	cancel()
	waitFor(t, "the apps to stop", func() bool { return a.apps.get("polite") == nil && a.apps.get("stubborn") == nil })
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d survived its app's stop", pid)
		}
	}
	if !alive(cpids[0]) {
		t.Error("the configured app stopped with the others")
	}
	// Stopping the agent stops its configured apps.
	a.stop()
	if alive(cpids[0]) {
		t.Errorf("the configured app (pid %d) survived the agent", cpids[0])
	}
	if note := string(mustRead(t, LogPath(a.cfg.StateDir, "app-b"))); !strings.Contains(note, "app-b: stopped") {
		t.Errorf("app-b's log: %q", note)
	}
}
