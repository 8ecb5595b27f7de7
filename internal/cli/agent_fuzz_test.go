package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// FuzzAgentConfig: the agent's YAML configuration file is read strictly and then validated.
// Neither panics; an error is the only way a bad file ends; a file that passes names an https
// server, a CA file and a state directory.
func FuzzAgentConfig(f *testing.F) {
	for _, s := range []string{
		"server: https://lanyard.example.com:8443\nca_file: /etc/lanyard/ca.pem\nstate_dir: /var/lib/lanyard-agent\n",
		"server: https://x\nca_file: c\nstate_dir: s\nimds:\n  listen: 169.254.169.254:80\napps:\n  - site: /subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/a\n    command: [a]\n",
		"server: http://x\n", "apps: [{}]\n", "unknown: 1\n", "miss_rate: -1\n", "listen: 0.0.0.0:80\n", "a: &a [*a]\n", "---\n---\n",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, yaml string) {
		path := filepath.Join(dir, "agent.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadAgentConfig(path)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("a bad configuration's error is %v, not Invalid: %v", errs.KindOf(err), err)
			}
			return
		}
		if cfg.ServerURL == "" || cfg.CAFile == "" || cfg.StateDir == "" {
			t.Fatalf("a configuration without server, ca_file or state_dir passed: %+v", cfg)
		}
	})
}
