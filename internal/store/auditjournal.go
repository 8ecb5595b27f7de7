package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/lanyardhq/lanyard/internal/audit"
	"github.com/lanyardhq/lanyard/internal/errs"
)

// The audit journal (SQLite; Lanyard's own design, issue 17).
//
// Every audited request (each vault read, each token) appends an event to the audit chain, and
// the event must be durable before the answer goes out. Committing it to SQLite costs a write
// transaction per group of requests: the writer's lock, the WAL frames of the table's and the
// head's pages, the commit. With the journal, an append is one write(2) of the group's events to
// a file of the database's own (fsync'd too when sqlite.synchronous is full, so that it is as
// durable as a commit would be), and a background fold moves the journal's events into
// audit_events in one transaction every journalFoldEvery or journalFoldAt events.
//
// Nothing reads the journal but this file: every method of DB that reads the chain folds first
// (syncAudit), so that it sees every appended event, and the chain in the table is the chain.
// When the database is opened the journal's events that are not in the table yet (the process
// stopped before folding them, or was killed) are folded before anything else happens; an event
// that does not continue the table's chain stops the open, since the journal and the database do
// not belong together. A record cut short at the journal's end (a write the process was killed
// in) is dropped: its request was not answered.
//
// If the table refuses the events (a broken database, a full disk) the journal does not run ahead
// of it: after a failed fold every append folds first and is refused while that fails, so an
// audited request is answered only while the store takes its events. A journal write that fails
// is undone (the file is cut back) and the request refused; one that cannot be undone stops all
// appends until the server restarts.
//
// PostgreSQL has no journal: several servers append to one chain there, and the chain's head is a
// row that each append locks.

const (
	journalFoldEvery  = 200 * time.Millisecond
	journalFoldAt     = 4096    // pending events that start a fold before the tick
	journalMaxPending = 1 << 16 // past this, an append folds first, and is refused if that fails
	journalMaxRecord  = 1 << 20 // a record's largest payload (an event is a few hundred bytes)
	journalRecordHead = 8       // payload length and CRC-32C, little-endian
	journalSuffix     = ".log"
	opFoldJournal     = "FoldAuditJournal"
)

var journalCRC = crc32.MakeTable(crc32.Castagnoli)

// auditJournal is the journal of one SQLite database, held by one process.
type auditJournal struct {
	db   *DB
	path string // the database's file: the journal's files are path-audit-*
	sync bool   // fsync each append and each new segment (sqlite.synchronous full)
	lock *os.File

	mu       sync.Mutex
	headSeq  int64 // the chain's head, journal included
	headHash string
	f        *os.File // the segment appends go to; nil until the first append after a fold
	off      int64    // its size
	pending  []audit.Event
	sealed   []string // closed segments, whose events are in pending or already in the table
	foldErr  error    // the last fold's failure; nil after a success
	broken   error    // a write that could not be undone: every append is refused
	buf      []byte

	// failFold, in tests, fails the fold's transaction when it returns an error.
	failFold func() error

	foldMu sync.Mutex // one fold at a time

	closeOnce sync.Once
	closeErr  error
	kick      chan struct{}
	stop      chan struct{}
	done      chan struct{}
}

// The journal of the SQLite database at path is files beside it, so that whatever is done to
// path* (a copy, rm) is done to them too: its lock, path-audit-lock, and its segments,
// path-audit-SEQ.log, SEQ the segment's first event, 20 digits.
func journalLockPath(path string) string { return path + "-audit-lock" }

func journalSegmentPath(path string, first int64) string {
	return fmt.Sprintf("%s-audit-%020d%s", path, first, journalSuffix)
}

// The journal has a lock file. The process with the journal holds it exclusively
// for as long as the database is open: nobody else may append to the chain meanwhile, since its
// events would not follow the journal's. An open without the journal takes it exclusively only to
// fold what a journal left, and then holds it shared, so that several such opens (several
// servers on one SQLite file, tests) share the database, and a journal is never opened beside
// them. The lock is taken before the database's migrations run.

// lockJournal takes the journal's lock of the SQLite database at path: exclusively when the
// journal is enabled (an error if that cannot be had), else exclusively if it can be had at once
// (to fold a journal's leftovers) or shared.
func lockJournal(path string, enabled bool) (lock *os.File, exclusive bool, err error) {
	lock, err = os.OpenFile(journalLockPath(path), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, errs.Wrap(errs.Unavailable, err, "store: cannot open the audit journal's lock")
	}
	fd := int(lock.Fd())
	if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil {
		return lock, true, nil
	}
	if enabled {
		lock.Close()
		return nil, false, errs.E(errs.Unavailable, "store: another process, or another open in this one, uses the database %s: the audit journal needs it to itself (one server on a SQLite file; set sqlite.audit_journal: false on every server that shares one)", path)
	}
	// Others hold it shared (take it with them), or exclusively: a journal, or an open folding a
	// journal's leftovers for a moment.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if unix.Flock(fd, unix.LOCK_SH|unix.LOCK_NB) == nil {
			return lock, false, nil
		}
		if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil {
			return lock, true, nil
		}
		if time.Now().After(deadline) {
			lock.Close()
			return nil, false, errs.E(errs.Unavailable, "store: a server with the audit journal holds the database %s: stop it first, or set sqlite.audit_journal: false on every server that shares the file", path)
		}
	}
}

// openJournal, with the lock held, folds what a journal left behind into the database (if the
// lock is exclusive) and, if enabled, starts the journal that appends go to from now on, which
// then holds the lock; else it leaves the lock shared.
func openJournal(ctx context.Context, db *DB, path string, lock *os.File, exclusive, sync, enabled bool) (*auditJournal, error) {
	if !exclusive {
		return nil, nil
	}
	j := &auditJournal{db: db, path: path, sync: sync, lock: lock}
	if err := j.replay(ctx); err != nil {
		return nil, err
	}
	if !enabled {
		if err := unix.Flock(int(lock.Fd()), unix.LOCK_SH); err != nil {
			return nil, errs.Wrap(errs.Unavailable, err, "store: cannot share the audit journal's lock")
		}
		return nil, nil
	}
	if err := db.pool().queryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&j.headSeq, &j.headHash); err != nil {
		return nil, fail(err, "read the audit head")
	}
	j.kick = make(chan struct{}, 1)
	j.stop = make(chan struct{})
	j.done = make(chan struct{})
	go j.run()
	return j, nil
}

// segments returns the journal's segment files in the order they were written.
func (j *auditJournal) segments() ([]string, error) {
	dir, base := filepath.Split(j.path)
	entries, err := os.ReadDir(filepath.Clean(dir))
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, err, "store: cannot list the audit journal")
	}
	var names []string
	for _, e := range entries {
		name := e.Name()
		first, ok := strings.CutPrefix(name, base+"-audit-")
		if !ok || first == "lock" {
			continue
		}
		first, ok = strings.CutSuffix(first, journalSuffix)
		if _, err := strconv.ParseUint(first, 10, 63); !ok || err != nil || len(first) != 20 {
			return nil, errs.E(errs.Internal, "store: %s is not an audit journal segment this version writes (move it aside)", filepath.Join(dir, name))
		}
		names = append(names, filepath.Join(dir, name))
	}
	sort.Strings(names) // fixed-width numbers: the order of their first events
	return names, nil
}

// replay folds the events of the journal's segments that are not in the table yet, then removes
// the segments.
func (j *auditJournal) replay(ctx context.Context) error {
	names, err := j.segments()
	if err != nil || len(names) == 0 {
		return err
	}
	var head int64
	var headHash string
	if err := j.db.pool().queryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&head, &headHash); err != nil {
		return fail(err, "read the audit head")
	}
	var evs []audit.Event
	for i, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			return errs.Wrap(errs.Unavailable, err, "store: cannot read the audit journal")
		}
		for off := 0; off < len(data); {
			ev, n, err := decodeJournalRecord(data[off:])
			if err != nil {
				if i == len(names)-1 && (n == 0 || off+n == len(data) || allZero(data[off:])) {
					break // the end of the last segment, cut short by a crash: not answered
				}
				return errs.E(errs.Internal, "store: the audit journal %s is damaged at byte %d: %v (the events from there on cannot be read; move the file aside to open the database without them)", name, off, err)
			}
			off += n
			if ev.Seq <= head {
				continue // folded before the process stopped
			}
			if ev.Seq != head+1 || ev.PrevHash != headHash || audit.Hash(ev) != ev.Hash {
				return errs.E(errs.Internal, "store: the audit journal %s does not continue the database's audit chain at event %d (the chain's head is event %d): the journal and the database do not belong together; move %s-audit-*.log aside to open the database without them", name, ev.Seq, head, j.path)
			}
			evs = append(evs, ev)
			head, headHash = ev.Seq, ev.Hash
		}
	}
	for start := 0; start < len(evs); start += journalFoldAt {
		if err := j.insert(ctx, evs[start:min(len(evs), start+journalFoldAt)]); err != nil {
			return err
		}
	}
	for _, name := range names {
		if err := os.Remove(name); err != nil {
			return errs.Wrap(errs.Unavailable, err, "store: cannot remove a folded audit journal segment")
		}
	}
	return nil
}

// insert moves evs into the table in one transaction. Events the table already holds (a fold
// whose commit was reported failed but happened) are skipped; the rest must continue the chain.
func (j *auditJournal) insert(ctx context.Context, evs []audit.Event) error {
	return j.db.inTx(ctx, opFoldJournal, "", func(c conn) error {
		if j.failFold != nil {
			if err := j.failFold(); err != nil {
				return err
			}
		}
		var head int64
		var headHash string
		if err := c.queryRow(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&head, &headHash); err != nil {
			return fail(err, "read audit head")
		}
		for len(evs) > 0 && evs[0].Seq <= head {
			evs = evs[1:]
		}
		if len(evs) == 0 {
			return nil
		}
		_, err := insertAuditChain(ctx, j.db.hotTx(c), head, headHash, evs)
		return err
	})
}

// append links the events build returns to the chain's head and writes them to the journal.
func (j *auditJournal) append(build func(prevSeq int64, prevHash string) ([]audit.Event, error)) ([]audit.Event, error) {
	j.mu.Lock()
	if j.broken == nil && (j.foldErr != nil || len(j.pending) >= journalMaxPending) {
		// The table refused the last fold, or folds fall behind: do not run ahead of the store.
		j.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := j.fold(ctx)
		cancel()
		if err != nil {
			return nil, errs.Wrap(errs.Unavailable, err, "store: the audit journal's events cannot be moved into the database")
		}
		j.mu.Lock()
	}
	defer j.mu.Unlock()
	if j.broken != nil {
		return nil, errs.Wrap(errs.Unavailable, j.broken, "store: the audit journal cannot be written (restart the server)")
	}
	evs, err := build(j.headSeq, j.headHash)
	if err != nil {
		return nil, err
	}
	if len(evs) == 0 {
		return nil, errs.E(errs.Internal, "store: an empty audit batch")
	}
	if j.db.BeforeCommit != nil { // the journal's write is this append's commit
		if err := j.db.BeforeCommit("AppendAudit"); err != nil {
			return nil, err
		}
	}
	prevSeq, prevHash := j.headSeq, j.headHash
	buf := j.buf[:0]
	for i := range evs {
		e := &evs[i]
		if err := checkAuditLink(prevSeq, prevHash, *e); err != nil {
			return nil, err
		}
		e.Time = fromMicros(sql.NullInt64{Int64: micros(e.Time), Valid: true})
		if buf, err = appendJournalRecord(buf, *e); err != nil {
			return nil, err
		}
		prevSeq, prevHash = e.Seq, e.Hash
	}
	j.buf = buf
	if err := j.write(evs[0].Seq, buf); err != nil {
		return nil, err
	}
	j.pending = append(j.pending, evs...)
	j.headSeq, j.headHash = prevSeq, prevHash
	if len(j.pending) >= journalFoldAt {
		select {
		case j.kick <- struct{}{}:
		default:
		}
	}
	return evs, nil
}

// write appends buf, whose first event is first, to the current segment (creating one if there
// is none), under j.mu.
func (j *auditJournal) write(first int64, buf []byte) error {
	if j.f == nil {
		name := journalSegmentPath(j.path, first)
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
		if err != nil {
			return errs.Wrap(errs.Unavailable, err, "store: cannot create an audit journal segment")
		}
		if j.sync {
			if err := syncDir(filepath.Dir(j.path)); err != nil {
				f.Close()
				os.Remove(name)
				return errs.Wrap(errs.Unavailable, err, "store: cannot sync the directory of the audit journal")
			}
		}
		j.f, j.off = f, 0
	}
	if _, err := j.f.Write(buf); err != nil {
		// Cut the segment back to its last whole record, so that the next append follows it.
		if terr := j.f.Truncate(j.off); terr != nil {
			j.broken = fmt.Errorf("a failed write (%v) could not be undone: %w", err, terr)
		}
		return errs.Wrap(errs.Unavailable, err, "store: cannot write the audit journal")
	}
	if j.sync {
		if err := j.f.Sync(); err != nil {
			// After a failed fsync what is on disk is unknown (the kernel may drop the pages).
			j.broken = fmt.Errorf("fsync: %w", err)
			return errs.Wrap(errs.Unavailable, err, "store: cannot sync the audit journal")
		}
	}
	j.off += int64(len(buf))
	return nil
}

// fold moves every pending event into the table: the current segment is closed (appends go to a
// new one meanwhile), its events and those of earlier closed segments are inserted, in
// transactions of journalFoldAt events, and the segments are removed.
func (j *auditJournal) fold(ctx context.Context) error {
	j.foldMu.Lock()
	defer j.foldMu.Unlock()
	j.mu.Lock()
	n := len(j.pending)
	if n == 0 {
		j.mu.Unlock()
		return nil
	}
	evs := j.pending[:n:n]
	if j.f != nil {
		if err := j.f.Close(); err != nil && j.broken == nil {
			j.broken = fmt.Errorf("close: %w", err)
		}
		j.sealed = append(j.sealed, j.f.Name())
		j.f = nil
	}
	sealed := j.sealed
	j.mu.Unlock()

	// In transactions of journalFoldAt events, so that a backlog does not hold SQLite's writer
	// lock for long; a failure part way leaves the rest pending (a retry skips what is in).
	var err error
	for start := 0; start < len(evs) && err == nil; start += journalFoldAt {
		err = j.insert(ctx, evs[start:min(len(evs), start+journalFoldAt)])
	}

	j.mu.Lock()
	j.foldErr = err
	if err == nil {
		j.pending = append([]audit.Event(nil), j.pending[n:]...)
		j.sealed = j.sealed[len(sealed):]
	}
	j.mu.Unlock()
	if err != nil {
		return err
	}
	for _, name := range sealed {
		// A segment left behind holds only folded events, which a replay skips.
		os.Remove(name)
	}
	return nil
}

// run folds every journalFoldEvery, or sooner when appends kick it, until close.
func (j *auditJournal) run() {
	defer close(j.done)
	t := time.NewTicker(journalFoldEvery)
	defer t.Stop()
	for {
		select {
		case <-j.stop:
			return
		case <-t.C:
		case <-j.kick:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		j.fold(ctx) // a failure is kept in foldErr: the next append retries it, and is refused if it fails
		cancel()
	}
}

// close stops the background fold, folds what is pending (what it cannot fold stays in the
// journal for the next open) and releases the journal.
func (j *auditJournal) close() error {
	j.closeOnce.Do(func() { j.closeErr = j.doClose() })
	return j.closeErr
}

func (j *auditJournal) doClose() error {
	close(j.stop)
	<-j.done
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := j.fold(ctx)
	j.mu.Lock()
	if j.f != nil {
		j.f.Close()
		j.f = nil
	}
	j.broken = errors.New("the database is closed")
	j.mu.Unlock()
	j.lock.Close() // releases the flock
	return err
}

// syncAudit makes every appended event readable from the table (a no-op without the journal).
func (db *DB) syncAudit(ctx context.Context) error {
	if db.journal == nil {
		return nil
	}
	if err := db.journal.fold(ctx); err != nil {
		return fmt.Errorf("store: fold the audit journal before reading the chain: %w", err)
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// A journal record: the payload's length and its CRC-32C (little-endian, 4 bytes each), then the
// payload: seq (uvarint), time (varint, Unix microseconds), and actor, action, target, result,
// request id, detail, previous hash and hash, each as a uvarint length and its bytes.

func appendJournalRecord(buf []byte, e audit.Event) ([]byte, error) {
	start := len(buf)
	buf = append(buf, make([]byte, journalRecordHead)...)
	buf = binary.AppendUvarint(buf, uint64(e.Seq))
	buf = binary.AppendVarint(buf, micros(e.Time))
	for _, s := range [...]string{e.Actor, e.Action, e.Target, e.Result, e.RequestID, e.Detail, e.PrevHash, e.Hash} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	payload := buf[start+journalRecordHead:]
	if len(payload) > journalMaxRecord {
		return buf[:start], errs.E(errs.Invalid, "store: audit event %d is %d bytes, more than the journal's %d", e.Seq, len(payload), journalMaxRecord)
	}
	binary.LittleEndian.PutUint32(buf[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(payload, journalCRC))
	return buf, nil
}

// errJournalShort is a record cut short by the end of the data.
var errJournalShort = errors.New("record cut short")

// decodeJournalRecord decodes the record at the start of data and returns its length. n is 0
// when data ends inside the record's head or payload (a record cut short).
func decodeJournalRecord(data []byte) (e audit.Event, n int, err error) {
	if len(data) < journalRecordHead {
		return e, 0, errJournalShort
	}
	size := binary.LittleEndian.Uint32(data)
	if size > journalMaxRecord {
		return e, journalRecordHead, fmt.Errorf("a record of %d bytes, more than %d", size, journalMaxRecord)
	}
	n = journalRecordHead + int(size)
	if len(data) < n {
		return e, 0, errJournalShort
	}
	payload := data[journalRecordHead:n]
	if crc32.Checksum(payload, journalCRC) != binary.LittleEndian.Uint32(data[4:]) {
		return e, n, errors.New("checksum mismatch")
	}
	seq, k := binary.Uvarint(payload)
	if k <= 0 || seq == 0 || seq > 1<<62 {
		return e, n, errors.New("bad sequence number")
	}
	payload = payload[k:]
	t, k := binary.Varint(payload)
	if k <= 0 {
		return e, n, errors.New("bad time")
	}
	payload = payload[k:]
	var fields [8]string
	for i := range fields {
		l, k := binary.Uvarint(payload)
		if k <= 0 || l > uint64(len(payload)-k) {
			return e, n, errors.New("bad field length")
		}
		fields[i] = string(payload[k : k+int(l)])
		payload = payload[k+int(l):]
	}
	if len(payload) != 0 {
		return e, n, errors.New("trailing bytes")
	}
	e = audit.Event{Seq: int64(seq), Time: fromMicros(sql.NullInt64{Int64: t, Valid: true}),
		Actor: fields[0], Action: fields[1], Target: fields[2], Result: fields[3], RequestID: fields[4],
		Detail: fields[5], PrevHash: fields[6], Hash: fields[7]}
	return e, n, nil
}
