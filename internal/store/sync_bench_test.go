package store_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/store"
)

// BenchmarkSQLiteSynchronous measures what sqlite.synchronous costs a write: one audit event
// appended (one transaction, the smallest write every audited action makes), alone and from 16
// writers at once (the recorder's group commit shares a transaction's sync among them), with
// synchronous=normal (the default; the baseline) and =full; each committed to the database
// ("commit", sqlite.audit_journal false) and appended to the audit journal ("journal", the
// default; its fold into the database runs in the background, and the rest of it when the
// database closes, inside the timed function). Report full/normal and journal/commit per case:
//
//	go test -run '^$' -bench SQLiteSynchronous -benchtime 2s ./internal/store/
func BenchmarkSQLiteSynchronous(b *testing.B) {
	for _, sync := range []string{"normal", "full"} {
		for _, par := range []int{1, 16} {
			for _, journal := range []bool{false, true} {
				name := sync + "/serial"
				if par > 1 {
					name = sync + "/16-writers"
				}
				name += map[bool]string{false: "/commit", true: "/journal"}[journal]
				benchAuditAppend(b, name, sync, par, journal)
			}
		}
	}
}

func benchAuditAppend(b *testing.B, name, sync string, par int, journal bool) {
	b.Run(name, func(b *testing.B) {
		ctx := context.Background()
		db, err := store.OpenWith(ctx, "sqlite:"+filepath.Join(b.TempDir(), "l.db"), store.Options{SQLiteSynchronous: sync, AuditJournal: journal})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		rec := &audit.Recorder{Store: db, Now: time.Now}
		ev := audit.Event{Actor: "sp:00000000-0000-0000-0000-000000000001", Action: "vault.secret.get", Target: "/subscriptions/s/x", Result: audit.Success}
		b.ResetTimer()
		if par == 1 {
			for range b.N {
				if _, err := rec.Record(ctx, ev); err != nil {
					b.Fatal(err)
				}
			}
			return
		}
		b.SetParallelism(par / runtime.GOMAXPROCS(0)) // about par writers
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := rec.Record(ctx, ev); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
