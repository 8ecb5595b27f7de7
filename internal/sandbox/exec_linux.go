package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// execArg0 is the argv[0] by which a program that called Init re-executes itself to enter a
// sandbox before it executes the app (the re-exec pattern: Go cannot join a namespace between
// fork and exec).
const execArg0 = "lanyard-sandbox-exec"

// Bind is a file bind-mounted over another inside the sandbox's mount namespace.
type Bind struct{ Src, Dst string }

// Command returns a command that runs argv inside the network namespace n, in a private mount
// namespace where each Bind's Src is seen at its Dst. The process is the calling program itself,
// re-executed: that program must call Init first thing in main (and a test binary in TestMain).
func Command(n *Netns, binds []Bind, argv []string) (*exec.Cmd, error) {
	if len(argv) == 0 {
		return nil, errors.New("no command to run in the sandbox")
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("the sandbox re-executes this program: %w", err)
	}
	args := []string{execArg0, n.Path}
	for _, b := range binds {
		if strings.Contains(b.Src, "\x00") || strings.Contains(b.Dst, "\x00") || strings.Contains(b.Dst, "=") {
			return nil, fmt.Errorf("bad bind %q over %q", b.Src, b.Dst)
		}
		args = append(args, b.Src+"="+b.Dst)
	}
	args = append(args, "--")
	args = append(args, argv...)
	return &exec.Cmd{Path: self, Args: args}, nil
}

// Init enters a sandbox and executes the app when this process was started by Command; it
// returns at once otherwise. Call it first thing in main.
func Init() {
	if filepath.Base(os.Args[0]) != execArg0 {
		return
	}
	err := enter(os.Args[1:])
	fmt.Fprintf(os.Stderr, "lanyard sandbox: %v\n", err)
	os.Exit(127)
}

// enter runs on the main thread, locked: it joins the network namespace, makes a private mount
// namespace with the binds, and executes the app (which keeps this thread's namespaces).
func enter(args []string) error {
	runtime.LockOSThread()
	if len(args) < 2 {
		return errors.New("usage: " + execArg0 + " NETNS [SRC=DST...] -- COMMAND...")
	}
	nsPath, rest := args[0], args[1:]
	var binds []Bind
	for len(rest) > 0 && rest[0] != "--" {
		src, dst, ok := strings.Cut(rest[0], "=")
		if !ok {
			return fmt.Errorf("bad bind %q", rest[0])
		}
		binds = append(binds, Bind{src, dst})
		rest = rest[1:]
	}
	if len(rest) < 2 {
		return errors.New("no command after --")
	}
	argv := rest[1:]
	fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("the network namespace %s: %w", nsPath, err)
	}
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("joining the network namespace %s: %w", nsPath, err)
	}
	_ = unix.Close(fd)
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("a mount namespace: %w", err)
	}
	// Nothing mounted here propagates to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	for _, b := range binds {
		if _, err := os.Stat(b.Dst); err != nil {
			continue // nothing to cover (a system without that file)
		}
		if err := unix.Mount(b.Src, b.Dst, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mounting %s over %s: %w", b.Src, b.Dst, err)
		}
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	return unix.Exec(path, argv, os.Environ())
}
