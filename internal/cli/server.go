package cli

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/config"
	"github.com/lanyardhq/lanyard/internal/seal"
	"github.com/lanyardhq/lanyard/internal/server"
	"github.com/lanyardhq/lanyard/internal/store"
)

func newServerCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the control plane",
		Long: `Runs the control plane: the token service, the APIs and the admin socket, on one HTTPS listener.

Configuration comes from a YAML file (--config), then LANYARD_* environment variables, then flags.
A key-encryption key is required: kek_file (32 random bytes, mode 0600) or LANYARD_KEK (base64).`,
		Example: `  lanyard server --config /etc/lanyard/lanyard.yaml
  LANYARD_KEK=$(cat kek.b64) lanyard server --store postgres://lanyard@db/lanyard --public-url https://lanyard.example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Environ(), config.ModeServer)
			if err != nil {
				return err
			}
			server.TuneGC()
			return runServer(cmd.Context(), cfg, cmd, nil)
		},
	}
	config.AddFlags(cmd.Flags())

	var immediate bool
	rotateKey := &cobra.Command{
		Use:   "rotate-signing-key",
		Short: "Schedule a new token-signing key",
		Long: `Creates a new signing key. It is published in JWKS at once and starts signing after the
pre-publication lead (token.prepublish, default 24h), so that relying parties have fetched it first.
With --immediate it signs at once (for a compromised key); the old key stays published until the
tokens it signed have expired either way.`,
		Example: `  lanyard server rotate-signing-key
  lanyard server rotate-signing-key --immediate -o table`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keys, err := g.client().RotateSigningKey(cmd.Context(), immediate)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), keys)
		},
	}
	rotateKey.Flags().BoolVar(&immediate, "immediate", false, "sign with the new key at once instead of after the pre-publication lead")

	var newKEK string
	rotateKEK := &cobra.Command{
		Use:   "rotate-kek --new-kek-file FILE",
		Short: "Rewrap every sealed value under a new key-encryption key (server stopped)",
		Long: `Rewraps the data key of every sealed value (signing keys, the CA key, secrets) under a new
key-encryption key. Payloads are not re-encrypted. Stop the server first. If FILE does not exist, a new
random key is written there (mode 0600). If interrupted, run the same command again: it continues.
Afterwards point kek_file (or LANYARD_KEK) at the new key and start the server.`,
		Example: `  lanyard server rotate-kek --config /etc/lanyard/lanyard.yaml --new-kek-file /etc/lanyard/kek.new`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags(), os.Environ(), config.ModeServer)
			if err != nil {
				return err
			}
			return rotateKEK(cmd, cfg, newKEK)
		},
	}
	config.AddFlags(rotateKEK.Flags())
	rotateKEK.Flags().StringVar(&newKEK, "new-kek-file", "", "file holding the new key-encryption key (created if missing)")
	_ = rotateKEK.MarkFlagRequired("new-kek-file")
	cmd.AddCommand(rotateKey, rotateKEK)
	return cmd
}

// newLogger builds the process logger from the configuration.
func newLogger(cfg config.Config, cmd *cobra.Command) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	w := logWriter(cfg, cmd)
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// logFiles are the log files opened by logWriter, by path: `lanyard dev` makes two loggers (server
// and agent), which share one file.
var logFiles = struct {
	sync.Mutex
	m map[string]io.Writer
}{m: map[string]io.Writer{}}

// logWriter is where the log goes: the file of log.file (appended to, created 0600, kept open
// for the life of the process), else stderr. A file that cannot be opened is said on stderr once,
// and the log goes to stderr.
func logWriter(cfg config.Config, cmd *cobra.Command) io.Writer {
	if cfg.Log.File == "" {
		return cmd.ErrOrStderr()
	}
	logFiles.Lock()
	defer logFiles.Unlock()
	if w, ok := logFiles.m[cfg.Log.File]; ok {
		return w
	}
	f, err := os.OpenFile(cfg.Log.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "lanyard: log.file: %v; logging to stderr\n", err)
		logFiles.m[cfg.Log.File] = cmd.ErrOrStderr()
		return cmd.ErrOrStderr()
	}
	logFiles.m[cfg.Log.File] = f
	return f
}

// runServer opens the server, listens, calls started (if any) and serves until ctx ends.
func runServer(ctx context.Context, cfg config.Config, cmd *cobra.Command, started func(*server.Server, net.Addr) error) error {
	log := newLogger(cfg, cmd)
	srv, err := server.Open(ctx, server.Options{Config: cfg, Log: log})
	if err != nil {
		return err
	}
	defer srv.Close()
	https, adminLn, err := srv.Listen()
	if errors.Is(err, syscall.EADDRINUSE) {
		flag := "--listen (or listen: in the config)"
		if cmd.Flags().Lookup("port") != nil {
			flag = "--port"
		}
		return fmt.Errorf("%w: another program (another lanyard?) uses that port; pick another with %s", err, flag)
	}
	if err != nil {
		return err
	}
	log.Info("lanyard server listening", "addr", https.Addr().String(), "public_url", cfg.PublicURL,
		"admin_socket", cfg.AdminSocket, "default_tenant", srv.Default.ID)
	if started != nil {
		if err := started(srv, https.Addr()); err != nil {
			https.Close()
			adminLn.Close()
			return err
		}
	}
	err = srv.Serve(ctx, https, adminLn)
	log.Info("lanyard server stopped")
	return err
}

func rotateKEK(cmd *cobra.Command, cfg config.Config, newFile string) error {
	ctx := cmd.Context()
	if c, err := net.Dial("unix", cfg.AdminSocket); err == nil {
		c.Close()
		return fmt.Errorf("a server is running on %s: stop it before rotating the key-encryption key", cfg.AdminSocket)
	}
	from, err := cfg.LoadKEK()
	if err != nil {
		return err
	}
	to, err := seal.LoadKEKFile(newFile)
	if errors.Is(err, os.ErrNotExist) {
		to, err = seal.CreateKEKFile(newFile, rand.Reader)
		if err == nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote a new key-encryption key to %s\n", newFile)
		}
	}
	if err != nil {
		return err
	}
	if to.ID() == from.ID() {
		return fmt.Errorf("the new key-encryption key is the current one (%s)", from)
	}
	db, err := store.OpenWith(ctx, cfg.Store, store.Options{SQLiteSynchronous: cfg.SQLite.Synchronous})
	if err != nil {
		return err
	}
	defer db.Close()
	n, err := seal.Rotate(ctx, db, from, to, func(done, total int) {
		fmt.Fprintf(cmd.ErrOrStderr(), "rewrapped %d of %d\n", done, total)
	})
	ev := audit.Event{Actor: fmt.Sprintf("cli:uid=%d", os.Getuid()), Action: "kek.rotate", Target: to.ID(),
		Result: audit.Success, Detail: fmt.Sprintf("from=%s rewrapped=%d", from.ID(), n)}
	if err != nil {
		ev.Result = audit.Failure
	}
	if _, aerr := (&audit.Recorder{Store: db, Now: time.Now}).Record(ctx, ev); aerr != nil && err == nil {
		err = aerr
	}
	if err != nil {
		return fmt.Errorf("after %d value(s): %w (run the same command again to continue)", n, err)
	}
	src := "kek_file"
	if cfg.KEK != "" {
		src = "LANYARD_KEK"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "rewrapped %d sealed value(s) under key %s\nnow point %s at %s and start the server\n", n, to, src, newFile)
	return nil
}
