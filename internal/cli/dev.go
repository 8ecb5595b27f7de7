package cli

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/internal/config"
	"github.com/lanyardhq/lanyard/internal/seal"
	"github.com/lanyardhq/lanyard/internal/server"
)

func newDevCmd() *cobra.Command {
	var port int
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run Lanyard on this machine for development (loopback, embedded SQLite in ./.lanyard)",
		Long: `Runs a control plane on https://localhost:8443 with everything it needs in ./.lanyard: the SQLite
database, the key-encryption key (created on first start, mode 0600), and ca.pem, the root certificate
clients must trust. A second start on the same directory reuses everything; deleting the directory is a
clean reset.`,
		Example: `  lanyard dev
  lanyard dev --port 9443 --token-lifetime 10m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("port") {
				if port < 1 || port > 65535 {
					return fmt.Errorf("--port must be from 1 to 65535")
				}
				p := strconv.Itoa(port)
				_ = cmd.Flags().Set("listen", net.JoinHostPort("127.0.0.1", p))
				if !cmd.Flags().Changed("public-url") {
					_ = cmd.Flags().Set("public-url", "https://localhost:"+p)
				}
			}
			cfg, err := config.Load(cmd.Flags(), os.Environ(), config.ModeDev)
			if err != nil {
				return err
			}
			if err := prepareDevDir(cfg); err != nil {
				return err
			}
			return runServer(cmd.Context(), cfg, cmd, func(srv *server.Server, addr net.Addr) error {
				caFile := filepath.Join(cfg.DataDir, "ca.pem")
				if err := os.WriteFile(caFile, srv.CA.CertPEM(), 0o644); err != nil {
					return fmt.Errorf("write %s: %w", caFile, err)
				}
				printDevBanner(cmd, cfg, srv, caFile)
				return nil
			})
		},
	}
	config.AddFlags(cmd.Flags())
	cmd.Flags().IntVar(&port, "port", 8443, "port of the control plane on loopback")
	return cmd
}

// prepareDevDir creates the data directory and, on the very first start only, the key-encryption
// key. A data directory that has a database but lost its key is an error, never a fresh key: a new
// key could not open what is stored.
func prepareDevDir(cfg config.Config) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	if cfg.KEK != "" || cfg.KEKFile == "" {
		return nil
	}
	if _, err := os.Stat(cfg.KEKFile); err == nil || !errors.Is(err, os.ErrNotExist) {
		return nil // present (or unreadable: loading it will say why)
	}
	if dsn, err := config.ParseDSN(cfg.Store); err == nil && dsn.Driver == "sqlite" {
		if _, err := os.Stat(dsn.Path); err == nil {
			return fmt.Errorf("kek_file %s is missing but the database %s exists: restore the key file (a new key could not open the data), or delete %s for a clean start", cfg.KEKFile, dsn.Path, cfg.DataDir)
		}
	}
	_, err := seal.CreateKEKFile(cfg.KEKFile, rand.Reader)
	return err
}

func printDevBanner(cmd *cobra.Command, cfg config.Config, srv *server.Server, caFile string) {
	tid := srv.Default.ID
	issuer := srv.Tokens.Issuer(tid)
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, `Lanyard dev is running.

  control plane   %s
  tenant id       %s
  issuer          %s
  JWKS            %s/%s/discovery/keys
  CA certificate  %s
  admin socket    %s
  data directory  %s

Try it:
  curl --cacert %s %s.well-known/openid-configuration

Stop with Ctrl-C; start again to reuse everything.
`, cfg.PublicURL, tid, issuer, cfg.PublicURL, tid, caFile, cfg.AdminSocket, cfg.DataDir, caFile, issuer)
}
