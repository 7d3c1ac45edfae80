//go:build !unix

package builtin

import "os/exec"

// ownProcessGroup leaves cmd as it is: without Unix process groups,
// cancellation kills the command's process only.
func ownProcessGroup(*exec.Cmd) {}

// killProcessGroup does nothing without Unix process groups.
func killProcessGroup(*exec.Cmd) {}
