//go:build !unix

package agent

import (
	"os"
	"os/exec"
)

var (
	termSignal = os.Kill
	killSignal = os.Kill
)

func setProcessGroup(*exec.Cmd) {}

// signalGroup signals the process alone: there are no process groups here.
func signalGroup(cmd *exec.Cmd, sig os.Signal) {
	if cmd.Process != nil {
		_ = cmd.Process.Signal(sig)
	}
}
