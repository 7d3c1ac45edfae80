package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// EndpointSlices (and Endpoints) refuse loopback addresses ("may not be in
// the loopback range"), so Pods that the EndpointSlice controller must
// publish cannot have 127.x IPs. The stand-in kubelet therefore runs its
// workers on PodNetwork addresses inside a private network namespace (an
// unprivileged `unshare -rn`), where that range is local on lo. Everything
// the tests start (etcd, the API server, the workers) lives in that
// namespace; nothing on the host's network changes, and no address there
// collides with another package's tests.

// PodNetwork is the prefix of the addresses given to Pods inside the
// namespace (10.251.0.1 - 10.251.0.254 for the stand-in kubelet).
const PodNetwork = "10.251.0."

const (
	envInNetNS = "SHOAL_K8S_IN_NETNS"
	podNetCIDR = "10.251.0.0/16"
	// podNetAddr is put on lo; on lo the whole prefix becomes local.
	podNetAddr = "10.251.255.254/16"
)

// ErrNoNetNS means the tests are not running in the private network
// namespace, so Pods cannot get addresses the EndpointSlice controller
// accepts.
var ErrNoNetNS = errors.New("harness: not in a private network namespace: EndpointSlices refuse loopback addresses, so pods need " + podNetCIDR + ", which only a private network namespace (`unshare -rn`, unprivileged user namespaces) provides here")

// InNetNS reports whether the process runs in the namespace RunInNetNS made.
func InNetNS() bool { return os.Getenv(envInNetNS) == "1" }

// RunInNetNS is for TestMain. Outside the namespace it re-executes the test
// binary inside a new one (`unshare -rn`) and returns its exit code with
// reexeced true; TestMain must then return that code. Inside, it brings lo
// up with PodNetwork on it and returns reexeced false. When unshare is not
// possible (or SHOAL_K8S_NETNS=off) it returns reexeced false and InNetNS
// stays false: tests that need pod addresses then skip or fail.
func RunInNetNS() (code int, reexeced bool, err error) {
	if InNetNS() {
		for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", podNetAddr, "dev", "lo"}} {
			if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
				return 0, false, fmt.Errorf("harness: ip %v in the network namespace: %v: %s", args, err, out)
			}
		}
		return 0, false, nil
	}
	if os.Getenv("SHOAL_K8S_NETNS") == "off" {
		return 0, false, nil
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return 0, false, nil
	}
	if err := exec.Command("unshare", "-rn", "true").Run(); err != nil {
		return 0, false, nil
	}
	cmd := exec.Command("unshare", append([]string{"-rn", "--", os.Args[0]}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envInNetNS+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return 0, false, nil
	}
	// Pass on what `go test` sends (SIGQUIT on its timeout: the child dumps
	// its goroutines).
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT)
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	err = cmd.Wait()
	signal.Stop(sigs)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), true, nil
	}
	if err != nil {
		return 1, true, err
	}
	return 0, true, nil
}
