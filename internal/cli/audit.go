package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/client"
	"github.com/lanyardhq/lanyard/internal/audit"
)

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read and verify the audit log", Example: `  lanyard audit list --limit 20 -o table
  lanyard audit verify
  lanyard audit checkpoint >> /var/backups/lanyard-checkpoints.jsonl
  lanyard audit verify --checkpoints /var/backups/lanyard-checkpoints.jsonl`}
	var (
		q        client.AuditQuery
		from, to string
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "List audit events in order, filtered by the server",
		Long: `Lists audit events by sequence number, oldest first (--newest-first for the other way), one
page of --limit events. The filters are applied by the server: --actor exactly, --action the
action and those under it (vault.secret matches vault.secret.get), --target every target that
starts with the value, --result success, denied or failure, --from/--to a time range (RFC 3339).
Continue with --after (oldest first) or --before (newest first) set to the last seq printed.`,
		Example: `  lanyard audit list --after 100 --limit 50 --query "[].{seq:seq, action:action, actor:actor, target:target}" -o table
  lanyard audit list --newest-first --action vault.secret --result denied
  lanyard audit list --target /subscriptions/{id}/resourceGroups/rg1/ --from 2026-12-05T00:00:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, t := range []struct {
				flag, v string
				dst     *time.Time
			}{{"--from", from, &q.From}, {"--to", to, &q.To}} {
				if t.v == "" {
					continue
				}
				var err error
				if *t.dst, err = time.Parse(time.RFC3339Nano, t.v); err != nil {
					return fmt.Errorf("%s: %q is not an RFC 3339 time such as 2026-12-05T10:00:00Z", t.flag, t.v)
				}
			}
			evs, err := g.client().QueryAudit(cmd.Context(), q)
			if err != nil {
				return err
			}
			if evs == nil {
				evs = []client.AuditEvent{}
			}
			return g.print(cmd.OutOrStdout(), evs)
		},
	}
	list.Flags().Int64Var(&q.After, "after", 0, "list events after this sequence number")
	list.Flags().Int64Var(&q.Before, "before", 0, "list events before this sequence number")
	list.Flags().IntVar(&q.Limit, "limit", 100, "at most this many events (1-1000)")
	list.Flags().BoolVar(&q.Newest, "newest-first", false, "newest events first")
	list.Flags().StringVar(&q.Actor, "actor", "", "only events of this actor (exactly), such as console:{session} or sp:{object id}")
	list.Flags().StringVar(&q.Action, "action", "", "only this action and those under it, such as vault.secret")
	list.Flags().StringVar(&q.Target, "target", "", "only targets that start with this, such as an ARM id")
	list.Flags().StringVar(&q.Result, "result", "", "only events with this result: success, denied or failure")
	list.Flags().StringVar(&from, "from", "", "only events at or after this time (RFC 3339)")
	list.Flags().StringVar(&to, "to", "", "only events before this time (RFC 3339)")
	var keptFile, segDir string
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
			if segDir != "" {
				return verifySegments(cmd, g, segDir)
			}
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
	verify.Flags().StringVar(&segDir, "segments", "", "instead of the store's chain, check the segment files retention exported to this directory (or 'audit export' files in it): each event, the links between files and to the store, and each closing checkpoint")
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
	var exportAfter int64
	var outFile string
	export := &cobra.Command{
		Use:   "export",
		Short: "Write the audit events in the store as JSON lines, closed by a signed checkpoint",
		Long: `Writes the events after --after (all by default) up to the chain's head as JSON lines, one
event each with its hash and the hash before it, and a last line {"checkpoint": …} signed for the
last event: the format of the segments retention exports, which 'lanyard audit verify
--segments DIR' checks offline. To stream events as they happen instead, set audit.stream.`,
		Example: `  lanyard audit export --out audit-$(date +%F).jsonl
  lanyard audit export --after 120000 > recent.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return exportAudit(cmd, g, exportAfter, outFile)
		},
	}
	export.Flags().Int64Var(&exportAfter, "after", 0, "export the events after this sequence number")
	export.Flags().StringVar(&outFile, "out", "", "write to this file (created 0600; refused if it exists) instead of stdout")
	cmd.AddCommand(list, verify, checkpoint, export)
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

// exportAudit writes the events after `after` up to a fresh checkpoint's seq, then that
// checkpoint.
func exportAudit(cmd *cobra.Command, g *globals, after int64, path string) error {
	ctx := cmd.Context()
	c := g.client()
	cp, err := c.CheckpointAudit(ctx)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if path != "" {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	n := 0
	for after < cp.Seq {
		evs, err := c.ListAudit(ctx, after, 1000)
		if err != nil {
			return err
		}
		if len(evs) == 0 {
			return fmt.Errorf("the audit chain has no event after %d although its head is %d: events before %d were removed by retention (see 'lanyard audit verify --segments')", after, cp.Seq, cp.Seq)
		}
		for _, e := range evs {
			if e.Seq > cp.Seq {
				break
			}
			if err := enc.Encode(e); err != nil {
				return err
			}
			after = e.Seq
			n++
		}
	}
	if err := enc.Encode(map[string]any{"checkpoint": cp}); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if path != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d event(s) up to %d and a signed checkpoint to %s\n", n, cp.Seq, path)
	}
	return nil
}

// verifySegments checks exported segment files offline: in name order, each file on its own and
// linked to the one before it; the newest must link to the store's base when the store has
// pruned up to it.
func verifySegments(cmd *cobra.Command, g *globals, dir string) error {
	ctx := cmd.Context()
	cps, err := g.client().ListAuditCheckpoints(ctx, 1)
	if err != nil {
		return err
	}
	var keys []audit.CheckpointKey
	for _, k := range cps.Keys {
		keys = append(keys, audit.CheckpointKey{ID: k.KeyID, PublicKey: k.PublicKey})
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("--segments %s: no .jsonl files in it", dir)
	}
	sort.Strings(files) // segment names carry zero-padded sequence numbers
	var (
		results  []audit.SegmentCheck
		prevHash string
		prevLast int64
		problems int
	)
	for _, f := range files {
		res, err := audit.VerifySegmentFile(f, prevHash, keys)
		if err != nil {
			return err
		}
		if prevLast != 0 && res.FirstSeq != prevLast+1 {
			res.Problems = append(res.Problems, audit.Problem{Seq: res.FirstSeq, Reason: fmt.Sprintf("the segment before ends at %d: events %d to %d are in no file", prevLast, prevLast+1, res.FirstSeq-1)})
		}
		if res.Problems == nil {
			res.Problems = []audit.Problem{}
		}
		problems += len(res.Problems)
		results = append(results, res)
		prevHash, prevLast = res.LastHash, res.LastSeq
	}
	out := map[string]any{"ok": problems == 0, "segments": results}
	if err := g.print(cmd.OutOrStdout(), out); err != nil {
		return err
	}
	if problems > 0 {
		return fmt.Errorf("%d problem(s) in the segments of %s", problems, dir)
	}
	return nil
}
