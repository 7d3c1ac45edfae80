// Package measure holds what the measurement programs under scripts/measure
// share: building the worker binary and waiting for a worker to be ready.
package measure

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// BuildWorker builds ./cmd/worker (run from the repository root) into a
// temporary directory and returns its path and a cleanup function.
func BuildWorker(prefix string) (string, func(), error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	bin := filepath.Join(dir, "worker")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/worker")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("build the worker (run from the repository root): %w", err)
	}
	return bin, cleanup, nil
}

// WaitReady polls the worker's /readyz on ip:8080 until it answers 200.
func WaitReady(ip string, timeout time.Duration) error {
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		resp, err := hc.Get("http://" + ip + ":8080/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("worker on %s not ready within %s", ip, timeout)
}
