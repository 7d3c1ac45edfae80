package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ErrNoBinaries means the control-plane binaries are not built.
var ErrNoBinaries = errors.New("harness: Kubernetes binaries not found")

// Binaries are the paths of the control-plane programs.
type Binaries struct {
	Etcd, APIServer, ControllerManager, Kubectl string
}

// BuildScript is the script that builds the binaries, relative to the
// repository root.
const BuildScript = "scripts/k8s/build-binaries.sh"

// FindBinaries looks in $SHOAL_K8S_BIN, else in the directory the build script
// reports (`build-binaries.sh --print-dir`, which does not build). repoRoot is
// the repository's root directory.
func FindBinaries(repoRoot string) (Binaries, error) {
	dir := os.Getenv("SHOAL_K8S_BIN")
	if dir == "" {
		out, err := exec.Command("bash", filepath.Join(repoRoot, BuildScript), "--print-dir").Output()
		if err != nil {
			return Binaries{}, fmt.Errorf("%w: %s --print-dir: %v", ErrNoBinaries, BuildScript, err)
		}
		dir = strings.TrimSpace(string(out))
	}
	b := Binaries{
		Etcd:              filepath.Join(dir, "etcd"),
		APIServer:         filepath.Join(dir, "kube-apiserver"),
		ControllerManager: filepath.Join(dir, "kube-controller-manager"),
		Kubectl:           filepath.Join(dir, "kubectl"),
	}
	for _, p := range []string{b.Etcd, b.APIServer, b.ControllerManager, b.Kubectl} {
		if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return Binaries{}, fmt.Errorf("%w: %s is missing: run %s (15-25 minutes cold on 2 cores, then cached) or set SHOAL_K8S_BIN to a directory holding etcd, kube-apiserver, kube-controller-manager and kubectl",
				ErrNoBinaries, p, BuildScript)
		}
	}
	return b, nil
}

// Required reports whether SHOAL_K8S_TESTS=1 asks for these tests to run.
func Required() bool { return os.Getenv("SHOAL_K8S_TESTS") == "1" }

// Require returns the binaries, skipping the test when they are absent, or
// failing it when SHOAL_K8S_TESTS=1.
func Require(tb testing.TB, repoRoot string) Binaries {
	tb.Helper()
	b, err := FindBinaries(repoRoot)
	if err == nil {
		return b
	}
	if Required() {
		tb.Fatalf("SHOAL_K8S_TESTS=1 but %v", err)
	}
	tb.Skipf("skipping the Kubernetes tests (set SHOAL_K8S_TESTS=1 to make this a failure): %v", err)
	return Binaries{}
}
