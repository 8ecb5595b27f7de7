package agent

import (
	"os"
	"path/filepath"
	"sync"

	"github.com/lanyardhq/lanyard/internal/errs"
)

// maxAppLog is the size at which an app's log is rotated; one old file (NAME.log.1) is kept, so
// an app's output takes at most twice this on disk.
const maxAppLog = 1 << 20

// LogPath is where the agent with state directory stateDir keeps the output of the app name
// (the current file; the previous one is LogPath+".1"). `lanyard webapp log tail` reads it.
func LogPath(stateDir, name string) string {
	return filepath.Join(stateDir, logDir, name+".log")
}

// appLog is an app's stdout and stderr, rotated at max bytes.
type appLog struct {
	mu   sync.Mutex
	path string
	max  int64
	f    *os.File
	size int64
}

func openAppLog(path string, max int64) (*appLog, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, errs.Wrap(errs.Internal, err, "creating the app log directory")
	}
	l := &appLog{path: path, max: max}
	if err := l.open(os.O_APPEND); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *appLog) open(mode int) error {
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|mode, 0o600)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "opening the app log")
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return errs.Wrap(errs.Internal, err, "opening the app log")
	}
	l.f, l.size = f, st.Size()
	return nil
}

// Write appends p, rotating first when p would take the file past max.
func (l *appLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return len(p), nil // closed: the app outlived its supervisor; drop
	}
	n := 0
	for len(p) > 0 {
		if l.size > 0 && l.size+int64(len(p)) > l.max {
			if err := l.rotate(); err != nil {
				return n, err
			}
		}
		chunk := p[:min(int64(len(p)), l.max)]
		w, err := l.f.Write(chunk)
		n += w
		l.size += int64(w)
		if err != nil {
			return n, err
		}
		p = p[w:]
	}
	return n, nil
}

func (l *appLog) rotate() error {
	l.f.Close()
	l.f = nil
	if err := os.Rename(l.path, l.path+".1"); err != nil && !os.IsNotExist(err) {
		return errs.Wrap(errs.Internal, err, "rotating the app log")
	}
	return l.open(os.O_TRUNC)
}

func (l *appLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
