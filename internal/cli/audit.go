package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/client"
)

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read and verify the audit log", Example: `  lanyard audit list --limit 20 -o table
  lanyard audit verify
  lanyard audit checkpoint >> /var/backups/lanyard-checkpoints.jsonl
  lanyard audit verify --checkpoints /var/backups/lanyard-checkpoints.jsonl`}
	var after int64
	var limit int
	list := &cobra.Command{
		Use:     "list",
		Short:   "List audit events in order",
		Example: `  lanyard audit list --after 100 --limit 50 --query "[].{seq:seq, action:action, actor:actor, target:target}" -o table`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			evs, err := g.client().ListAudit(cmd.Context(), after, limit)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), evs)
		},
	}
	list.Flags().Int64Var(&after, "after", 0, "list events after this sequence number")
	list.Flags().IntVar(&limit, "limit", 100, "at most this many events (1-1000)")
	var keptFile string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit chain and its signed checkpoints: changes, removals and rewrites are reported",
		Long: `Walks the whole audit chain on the server and reports where it is broken: a changed,
removed or inserted event. It also checks the chain against signed checkpoints: the ones the
servers stored, and those in --checkpoints, copies you kept out of the database's reach (the
output of 'lanyard audit checkpoint', or the servers' "audit checkpoint" log lines as JSON). A
chain rewritten with SQL, or whose newest events were cut off, no longer matches a checkpoint
taken before. Exits 1 when anything is wrong.`,
		Example: `  lanyard audit verify --query ok
  lanyard audit verify --checkpoints kept.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var kept []client.AuditCheckpoint
			if keptFile != "" {
				var err error
				if kept, err = readCheckpoints(keptFile); err != nil {
					return err
				}
			}
			v, err := g.client().VerifyAudit(cmd.Context(), kept...)
			if err != nil {
				return err
			}
			if err := g.print(cmd.OutOrStdout(), v); err != nil {
				return err
			}
			if !v.OK {
				return fmt.Errorf("audit chain is broken in %d place(s); first: event %d: %s", len(v.Problems), v.Problems[0].Seq, v.Problems[0].Reason)
			}
			return nil
		},
	}
	verify.Flags().StringVar(&keptFile, "checkpoints", "", "a file of checkpoints you kept: JSON lines, or a JSON array (as 'audit checkpoint' and 'audit checkpoint list' print)")
	var cpLimit int
	checkpoint := &cobra.Command{
		Use:   "checkpoint",
		Short: "Sign a checkpoint of the audit chain's head now and print it (keep it somewhere safe)",
		Long: `Signs a checkpoint of the audit chain's head (the last event's seq and hash) with the servers'
checkpoint key, whose private half the database holds only sealed under the KEK, and prints it as
one JSON line. Keep the output out of the database's reach (append it to a file on another host):
'lanyard audit verify --checkpoints FILE' then notices a chain that was rewritten or cut off
after it. Servers also sign one every audit.checkpoint_interval and at shutdown, and log it.`,
		Example: `  lanyard audit checkpoint >> /var/backups/lanyard-checkpoints.jsonl
  lanyard audit checkpoint list --limit 5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cp, err := g.client().CheckpointAudit(cmd.Context())
			if err != nil {
				return err
			}
			if (g.output == "" || g.output == "json") && g.query == "" {
				b, err := json.Marshal(cp) // one line, for appending to a file
				if err != nil {
					return err
				}
				_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
				return err
			}
			return g.print(cmd.OutOrStdout(), cp)
		},
	}
	checkpointList := &cobra.Command{
		Use:     "list",
		Short:   "List the stored checkpoints (newest first) and the public keys that sign them",
		Example: `  lanyard audit checkpoint list --limit 10 --query "value[].{seq:seq, time:time}" -o table`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cps, err := g.client().ListAuditCheckpoints(cmd.Context(), cpLimit)
			if err != nil {
				return err
			}
			return g.print(cmd.OutOrStdout(), cps)
		},
	}
	checkpointList.Flags().IntVar(&cpLimit, "limit", 100, "at most this many checkpoints (1-10000)")
	checkpoint.AddCommand(checkpointList)
	cmd.AddCommand(list, verify, checkpoint)
	return cmd
}

// readCheckpoints reads kept checkpoints: a JSON array, an object with "value" (as 'audit
// checkpoint list' prints), or JSON lines (as 'audit checkpoint' appends), or a server's log in JSON format (its "audit
// checkpoint" lines; the others are skipped).
func readCheckpoints(path string) ([]client.AuditCheckpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--checkpoints: %w", err)
	}
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		var cps []client.AuditCheckpoint
		if err := json.Unmarshal(trimmed, &cps); err != nil {
			return nil, fmt.Errorf("--checkpoints %s: not a JSON array of checkpoints: %v", path, err)
		}
		return cps, nil
	}
	var cps []client.AuditCheckpoint
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var v struct {
			client.AuditCheckpoint
			Value []client.AuditCheckpoint `json:"value"`
			At    string                   `json:"at"`     // a log line's field names
			KeyID string                   `json:"key_id"` // (slog's JSON handler)
			Msg   *string                  `json:"msg"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			return nil, fmt.Errorf("--checkpoints %s:%d: not JSON: %v", path, n, err)
		}
		switch {
		case v.Msg != nil && *v.Msg != "audit checkpoint":
			continue // another line of a server's JSON log
		case v.Value != nil:
			cps = append(cps, v.Value...)
		case v.KeyID != "" && v.At != "":
			cp := v.AuditCheckpoint
			cp.KeyID = v.KeyID
			if err := cp.Time.UnmarshalText([]byte(v.At)); err != nil {
				return nil, fmt.Errorf("--checkpoints %s:%d: at: %v", path, n, err)
			}
			cps = append(cps, cp)
		case v.AuditCheckpoint.KeyID != "":
			cps = append(cps, v.AuditCheckpoint)
		default:
			return nil, fmt.Errorf("--checkpoints %s:%d: not a checkpoint (no keyId)", path, n)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--checkpoints %s: %v", path, err)
	}
	if len(cps) == 0 {
		return nil, fmt.Errorf("--checkpoints %s: no checkpoints in it", path)
	}
	return cps, nil
}
