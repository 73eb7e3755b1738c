//go:build !linux

package versitygw

import "os/exec"

// dieWithParent has no portable equivalent outside Linux: the server is
// stopped by Stop only.
func dieWithParent(*exec.Cmd) {}
