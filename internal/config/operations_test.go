package config

import (
	"testing"
	"time"
)

// The operational settings: defaults, the file, the environment, and their bad values.
func TestOperationalSettings(t *testing.T) {
	c, err := load(t, ModeServer, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.UnauthenticatedRate != DefaultUnauthenticatedRate || c.Limits.UnauthenticatedBurst != DefaultUnauthenticatedBurst ||
		c.Audit.RefusalWindow.Std() != DefaultRefusalWindow || c.SQLite.Synchronous != "normal" || !c.SQLite.AuditJournal {
		t.Errorf("defaults: %+v %+v %+v", c.Limits, c.Audit, c.SQLite)
	}
	path := writeFile(t, "limits:\n  unauthenticated_rate: 2.5\n  unauthenticated_burst: 7\naudit:\n  refusal_window: 10s\nsqlite:\n  synchronous: full\n  audit_journal: false\n")
	c, err = load(t, ModeServer, nil, "--config", path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.UnauthenticatedRate != 2.5 || c.Limits.UnauthenticatedBurst != 7 || c.Audit.RefusalWindow.Std() != 10*time.Second || c.SQLite.Synchronous != "full" || c.SQLite.AuditJournal {
		t.Errorf("from the file: %+v %+v %+v", c.Limits, c.Audit, c.SQLite)
	}
	c, err = load(t, ModeServer, []string{EnvUnauthenticatedRate + "=1", EnvUnauthenticatedBurst + "=3", EnvRefusalWindow + "=2m", EnvSQLiteSynchronous + "=full", EnvSQLiteAuditJournal + "=true"},
		"--config", path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits.UnauthenticatedRate != 1 || c.Limits.UnauthenticatedBurst != 3 || c.Audit.RefusalWindow.Std() != 2*time.Minute || c.SQLite.Synchronous != "full" || !c.SQLite.AuditJournal {
		t.Errorf("the environment over the file: %+v %+v %+v", c.Limits, c.Audit, c.SQLite)
	}
	for _, tc := range []struct {
		env   []string
		yaml  string
		parts []string
	}{
		{yaml: "limits:\n  unauthenticated_rate: fast\n", parts: []string{"lanyard.yaml:2", "limits.unauthenticated_rate", "want a number", `"fast"`}},
		{yaml: "limits:\n  unauthenticated_burst: 1.5\n", parts: []string{"limits.unauthenticated_burst", "want a whole number"}},
		{yaml: "limits:\n  unauthenticated_burst: [1]\n", parts: []string{"limits.unauthenticated_burst", "a list"}},
		{yaml: "limits:\n  unauthenticated_rate: 0\n", parts: []string{"limits.unauthenticated_rate (from ", "positive"}},
		{yaml: "limits:\n  unauthenticated_rate: .nan\n", parts: []string{"limits.unauthenticated_rate", "positive"}},
		{yaml: "limits:\n  unauthenticated_burst: 0\n", parts: []string{"limits.unauthenticated_burst", "between 1 and"}},
		{yaml: "limits:\n  per_second: 3\n", parts: []string{"unknown key", "limits.per_second"}},
		{yaml: "audit:\n  refusal_window: 0s\n", parts: []string{"audit.refusal_window", "between 1s and 24h"}},
		{yaml: "sqlite:\n  synchronous: off\n", parts: []string{"sqlite.synchronous", "normal, full"}},
		{env: []string{EnvUnauthenticatedRate + "=lots"}, parts: []string{EnvUnauthenticatedRate, "not a number"}},
		{env: []string{EnvUnauthenticatedBurst + "=2x"}, parts: []string{EnvUnauthenticatedBurst}},
		{env: []string{EnvSQLiteSynchronous + "=extra"}, parts: []string{"sqlite.synchronous (from " + EnvSQLiteSynchronous + ")"}},
		{env: []string{EnvSQLiteAuditJournal + "=maybe"}, parts: []string{EnvSQLiteAuditJournal, "not true or false"}},
		{yaml: "sqlite:\n  audit_journal: sometimes\n", parts: []string{"sqlite.audit_journal", "want true or false", `"sometimes"`}},
	} {
		var args []string
		if tc.yaml != "" {
			args = append(args, "--config", writeFile(t, tc.yaml))
		}
		_, err := load(t, ModeServer, tc.env, args...)
		wantErr(t, err, tc.parts...)
	}
}
