package versitygw

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the server if this process dies
// without stopping it (a killed `go test` or `ordem dev`).
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
