package cli_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/internal/cli"
)

// unitDir holds the systemd units shipped in the repository (docs/deploy.md).
var unitDir = filepath.Join("..", "..", "deploy", "systemd")

// unitValues reads the [Service] settings of a unit file: key → values, in order.
func unitValues(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = line
		case section == "[Service]":
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: %q is not key=value", path, line)
			}
			out[k] = append(out[k], v)
		}
	}
	return out
}

// TestSystemdUnits: the units shipped run a command line the CLI accepts, set the hardening
// options (no capability for the server; the agent's only through its IMDS drop-in), and, where
// systemd-analyze is installed, pass `verify` and score a low exposure in `security`.
func TestSystemdUnits(t *testing.T) {
	for _, tc := range []struct {
		unit, subcommand string
		maxExposure      float64
	}{
		{"lanyard-server.service", "server", 2.0},
		{"lanyard-agent.service", "agent", 2.5},
	} {
		path := filepath.Join(unitDir, tc.unit)
		u := unitValues(t, path)
		exec0 := u["ExecStart"]
		if len(exec0) != 1 {
			t.Fatalf("%s: ExecStart %q", tc.unit, exec0)
		}
		argv := strings.Fields(exec0[0])
		if argv[0] != "/usr/local/bin/lanyard" || argv[1] != tc.subcommand {
			t.Errorf("%s runs %q", tc.unit, argv)
		}
		// The command line parses: the subcommand exists and takes these flags.
		cmd, rest, err := cli.NewRoot().Find(argv[1:])
		if err != nil || cmd.Name() != tc.subcommand {
			t.Fatalf("%s: %q is not a lanyard command: %v", tc.unit, argv[1:], err)
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Errorf("%s: lanyard %s does not take %q: %v", tc.unit, tc.subcommand, rest, err)
		}
		for key, want := range map[string]string{
			"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes", "PrivateDevices": "yes",
			"ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectControlGroups": "yes",
			"RestrictSUIDSGID": "yes", "CapabilityBoundingSet": "", "AmbientCapabilities": "", "UMask": "0077",
			"StateDirectoryMode": "0700",
		} {
			if got := u[key]; len(got) != 1 || got[0] != want {
				t.Errorf("%s: %s=%q, want %q", tc.unit, key, got, want)
			}
		}
		if u["User"] == nil || u["User"][0] == "root" {
			t.Errorf("%s runs as %q, want a user of its own", tc.unit, u["User"])
		}
		analyze(t, path, tc.maxExposure)
	}
	drop := unitValues(t, filepath.Join(unitDir, "lanyard-agent-imds.conf"))
	for _, key := range []string{"CapabilityBoundingSet", "AmbientCapabilities"} {
		if got := drop[key]; len(got) != 1 || got[0] != "CAP_NET_ADMIN CAP_NET_BIND_SERVICE" {
			t.Errorf("IMDS drop-in: %s=%q, want exactly CAP_NET_ADMIN CAP_NET_BIND_SERVICE", key, got)
		}
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// analyze runs systemd-analyze verify and security on a copy of the unit whose ExecStart names
// an executable that exists here.
func analyze(t *testing.T, path string, maxExposure float64) {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Logf("systemd-analyze is not installed: %s not verified", filepath.Base(path))
		return
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(copyPath, []byte(strings.ReplaceAll(string(raw), "/usr/local/bin/lanyard", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sa, "verify", copyPath).CombinedOutput()
	// verify also complains about units it cannot find on this machine (postgresql.service); the
	// unit's own problems name its file.
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.Contains(line, filepath.Base(path)) {
			t.Errorf("systemd-analyze verify: %s", line)
		}
	}
	if err != nil && t.Failed() {
		t.Logf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, _ = exec.Command(sa, "security", "--offline=yes", copyPath).CombinedOutput()
	m := exposureRE.FindSubmatch(out)
	if m == nil {
		t.Logf("systemd-analyze security gave no score (%s): skipped", strings.TrimSpace(lastLine(string(out))))
		return
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("%s: systemd-analyze security exposure %.1f", filepath.Base(path), score)
	if score > maxExposure {
		t.Errorf("%s: exposure %.1f, want at most %.1f:\n%s", filepath.Base(path), score, maxExposure, out)
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndexByte(s, '\n')+1:]
}
