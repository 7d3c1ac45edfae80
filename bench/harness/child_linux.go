package harness

import (
	"os/exec"
	"syscall"
)

// setChildAttrs makes the kernel kill the child if the bench dies first.
func setChildAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
