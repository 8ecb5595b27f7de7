package audit

import (
	"context"
	"log/slog"
	"time"
)

// Folder keeps the audit log's filter keys up to date: every Every it folds the events appended
// since the last fold, Batch at a time, until it has caught up. The queries are exact whether or
// not it has (the unfolded tail is read directly); folding keeps that tail short.
type Folder struct {
	Store KeyStore
	Every time.Duration // default 1s
	Batch int           // events per transaction; default 5000
	Log   *slog.Logger
}

// Run folds every Every until ctx ends.
func (f *Folder) Run(ctx context.Context) error {
	every := f.Every
	if every <= 0 {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := f.Fold(ctx); err != nil && ctx.Err() == nil && f.Log != nil {
			f.Log.Warn("audit key fold failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Fold folds until the keys have caught up with the chain (a batch short of full).
func (f *Folder) Fold(ctx context.Context) error {
	batch := f.Batch
	if batch <= 0 {
		batch = 5000
	}
	for {
		n, err := f.Store.FoldAuditKeys(ctx, batch)
		if err != nil || n < batch {
			return err
		}
	}
}
