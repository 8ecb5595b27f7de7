package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Limits bound what callers that do not authenticate may cost the server, per source address
// (an IPv4 address, or an IPv6 /64).
type Limits struct {
	// UnauthenticatedRate is how many requests answered 401 a source may make per second,
	// sustained; UnauthenticatedBurst how many in a row. Past them, the source's requests that
	// carry no valid credential are answered 429 (with Retry-After) until it is back under the
	// rate. Requests with a valid token or client certificate are never throttled.
	UnauthenticatedRate  float64 `yaml:"unauthenticated_rate"`
	UnauthenticatedBurst int     `yaml:"unauthenticated_burst"`
	// MaxPackageSize is the largest deployment package (zip) a function app may be given
	// through zipdeploy, in bytes; a larger one is refused with 413.
	MaxPackageSize int64 `yaml:"max_package_size"`
}

// Audit configures the audit log.
type Audit struct {
	// RefusalWindow is the window over which refusals of unidentified callers are recorded in
	// aggregate: per source and window, the first refusal is an event of its own and the rest
	// one summary event.
	RefusalWindow Duration `yaml:"refusal_window"`
	// CheckpointInterval is how often each server signs a checkpoint of the audit chain (and
	// logs it, for operators to keep); one more is signed at shutdown.
	CheckpointInterval Duration `yaml:"checkpoint_interval"`
	// RetentionMaxAge and RetentionMaxEvents bound the events kept in the store (0: no bound).
	// Older events are first exported to ExportDir as segment files (JSON lines ending with a
	// signed checkpoint), then removed.
	RetentionMaxAge    Duration `yaml:"retention_max_age"`
	RetentionMaxEvents int64    `yaml:"retention_max_events"`
	// ExportDir is where segments go; default {data_dir}/audit.
	ExportDir string `yaml:"export_dir"`
	// Stream sends every event as it happens to "file:/path", "syslog", or
	// "syslog+udp|tcp|unix://address"; "" sends nothing.
	Stream string `yaml:"stream"`
}

// SQLite configures the embedded store.
type SQLite struct {
	// Synchronous is SQLite's synchronous setting in WAL mode: "normal" (the default) loses
	// nothing when the process crashes but may lose the last commits, audit events included, on
	// a power loss or kernel crash; "full" syncs the WAL on every commit, which survives those too
	// at a cost per write (docs/performance.md).
	Synchronous string `yaml:"synchronous"`
	// AuditJournal (default true) appends audit events to a journal next to the database,
	// written before each audited answer (and synced with it under synchronous full) and moved
	// into the database in the background, instead of a write transaction per group of events;
	// false commits each group to the database before the answer.
	AuditJournal bool `yaml:"audit_journal"`
}

// The defaults of the operational settings.
const (
	DefaultUnauthenticatedRate  = 10
	DefaultUnauthenticatedBurst = 100
	DefaultRefusalWindow        = time.Minute
	DefaultCheckpointInterval   = 15 * time.Minute
	DefaultSQLiteSynchronous    = "normal"
	DefaultMaxPackageSize       = 100 << 20
	MaxMaxPackageSize           = 2 << 30
)

// Environment variables of the operational settings.
const (
	EnvUnauthenticatedRate  = "LANYARD_LIMITS_UNAUTHENTICATED_RATE"
	EnvUnauthenticatedBurst = "LANYARD_LIMITS_UNAUTHENTICATED_BURST"
	EnvRefusalWindow        = "LANYARD_AUDIT_REFUSAL_WINDOW"
	EnvCheckpointInterval   = "LANYARD_AUDIT_CHECKPOINT_INTERVAL"
	EnvAuditStream          = "LANYARD_AUDIT_STREAM"
	EnvSQLiteSynchronous    = "LANYARD_SQLITE_SYNCHRONOUS"
	EnvSQLiteAuditJournal   = "LANYARD_SQLITE_AUDIT_JOURNAL"
)

// applyOperationsEnv applies the environment variables of the operational settings.
func (c *Config) applyOperationsEnv(env map[string]string) error {
	if v := env[EnvUnauthenticatedRate]; v != "" {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return fmt.Errorf("%s: %q is not a number", EnvUnauthenticatedRate, v)
		}
		c.Limits.UnauthenticatedRate = f
		c.origin["limits.unauthenticated_rate"] = EnvUnauthenticatedRate
	}
	if v := env[EnvUnauthenticatedBurst]; v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%s: %q is not a whole number", EnvUnauthenticatedBurst, v)
		}
		c.Limits.UnauthenticatedBurst = n
		c.origin["limits.unauthenticated_burst"] = EnvUnauthenticatedBurst
	}
	if v := env[EnvRefusalWindow]; v != "" {
		d, err := parseDuration(v)
		if err != nil {
			return fmt.Errorf("%s: %v", EnvRefusalWindow, err)
		}
		c.Audit.RefusalWindow = d
		c.origin["audit.refusal_window"] = EnvRefusalWindow
	}
	if v := env[EnvCheckpointInterval]; v != "" {
		d, err := parseDuration(v)
		if err != nil {
			return fmt.Errorf("%s: %v", EnvCheckpointInterval, err)
		}
		c.Audit.CheckpointInterval = d
		c.origin["audit.checkpoint_interval"] = EnvCheckpointInterval
	}
	if v := env[EnvAuditStream]; v != "" {
		c.Audit.Stream = v
		c.origin["audit.stream"] = EnvAuditStream
	}
	if v := env[EnvSQLiteSynchronous]; v != "" {
		c.SQLite.Synchronous = v
		c.origin["sqlite.synchronous"] = EnvSQLiteSynchronous
	}
	if v := env[EnvSQLiteAuditJournal]; v != "" {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%s: %q is not true or false", EnvSQLiteAuditJournal, v)
		}
		c.SQLite.AuditJournal = b
		c.origin["sqlite.audit_journal"] = EnvSQLiteAuditJournal
	}
	return nil
}

// validateOperations reports the problems of the operational settings to bad.
func (c Config) validateOperations(bad func(field, format string, args ...any)) {
	if r := c.Limits.UnauthenticatedRate; r <= 0 || math.IsNaN(r) || math.IsInf(r, 0) {
		bad("limits.unauthenticated_rate", "%v must be a positive number of requests per second", r)
	}
	if b := c.Limits.UnauthenticatedBurst; b < 1 || b > 1_000_000 {
		bad("limits.unauthenticated_burst", "%d must be between 1 and 1000000", b)
	}
	if d := c.Audit.RefusalWindow.Std(); d < time.Second || d > 24*time.Hour {
		bad("audit.refusal_window", "%s must be between 1s and 24h", d)
	}
	if d := c.Audit.CheckpointInterval.Std(); d < time.Second || d > 24*time.Hour {
		bad("audit.checkpoint_interval", "%s must be between 1s and 24h", d)
	}
	if d := c.Audit.RetentionMaxAge.Std(); d != 0 && d < time.Hour {
		bad("audit.retention_max_age", "%s must be 0 (keep everything) or at least 1h", d)
	}
	if n := c.Audit.RetentionMaxEvents; n != 0 && n < 1000 {
		bad("audit.retention_max_events", "%d must be 0 (keep everything) or at least 1000", n)
	}
	if s := c.Audit.Stream; s != "" && !strings.HasPrefix(s, "file:/") && s != "syslog" && !strings.HasPrefix(s, "syslog+") {
		bad("audit.stream", "%q is not file:/absolute/path, syslog, or syslog+udp|tcp|unix://address", s)
	}
	if n := c.Limits.MaxPackageSize; n < 1024 || n > MaxMaxPackageSize {
		bad("limits.max_package_size", "%d must be between 1024 and %d bytes", n, int64(MaxMaxPackageSize))
	}
	switch c.SQLite.Synchronous {
	case "normal", "full":
	default:
		bad("sqlite.synchronous", "%q is not one of normal, full", c.SQLite.Synchronous)
	}
}
