package builtin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/shoal-dev/shoal/pkg/jobs"
)

// ExecAllowFlag is the worker flag that fills Config.ExecAllow; error
// messages name it.
const ExecAllowFlag = "--exec-allow"

type execPayload struct {
	Command string   `json:"command"`
	Args    []string `json:"args"`
	Stdin   string   `json:"stdin"`
}

type execResult struct {
	ExitCode int    `json:"exit_code"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
}

// ResolveExecAllow turns --exec-allow values into a Config.ExecAllow map.
// A value is either a command name, resolved now with exec.LookPath against
// the worker's PATH ("echo" -> "/usr/bin/echo"), or "name=/absolute/path" to
// pin the executable explicitly. Resolving once, at start-up, means a job
// can run only the executables the operator saw when starting the worker,
// whatever later happens to PATH.
func ResolveExecAllow(values []string) (map[string]string, error) {
	out := make(map[string]string, len(values))
	for _, v := range values {
		name, path, explicit := strings.Cut(v, "=")
		if name == "" || strings.ContainsAny(name, `/\`) {
			return nil, fmt.Errorf("%w: %s value %q: want a command name such as \"echo\", or name=/absolute/path",
				ErrInvalidConfig, ExecAllowFlag, v)
		}
		if !explicit {
			p, err := exec.LookPath(name)
			if err != nil {
				return nil, fmt.Errorf("%w: %s %q: %w; install it, fix PATH, or give name=/absolute/path",
					ErrInvalidConfig, ExecAllowFlag, name, err)
			}
			if path, err = filepath.Abs(p); err != nil {
				return nil, fmt.Errorf("%w: %s %q: %w", ErrInvalidConfig, ExecAllowFlag, name, err)
			}
		} else if !filepath.IsAbs(path) {
			return nil, fmt.Errorf("%w: %s value %q: the path must be absolute", ErrInvalidConfig, ExecAllowFlag, v)
		}
		if prev, dup := out[name]; dup && prev != path {
			return nil, fmt.Errorf("%w: %s names %q twice, as %s and %s", ErrInvalidConfig, ExecAllowFlag, name, prev, path)
		}
		out[name] = path
	}
	return out, nil
}

// checkExecutables reports an ExecAllow entry whose path is not an
// executable regular file.
func checkExecutables(allow map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(allow)) {
		path := allow[name]
		fi, err := os.Stat(path)
		switch {
		case err != nil:
			return fmt.Errorf("%w: ExecAllow[%q]: %w; fix %s", ErrInvalidConfig, name, err, ExecAllowFlag)
		case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
			return fmt.Errorf("%w: ExecAllow[%q]: %s is not an executable file; fix %s", ErrInvalidConfig, name, path, ExecAllowFlag)
		}
	}
	return nil
}

// exec runs an allow-listed command without a shell.
func (h handlers) exec(ctx context.Context, job jobs.Job) (json.RawMessage, error) {
	var p execPayload
	if err := decodePayload(job, &p); err != nil {
		return nil, err
	}
	if p.Command == "" {
		return nil, invalid(job.Type, `want {"command": "name", "args": [...]}; command is missing`)
	}
	path, ok := h.cfg.ExecAllow[p.Command]
	if !ok {
		allowed := "none"
		if len(h.cfg.ExecAllow) > 0 {
			allowed = strings.Join(slices.Sorted(maps.Keys(h.cfg.ExecAllow)), ", ")
		}
		return nil, jobs.Permanent(fmt.Errorf("%s: %w: %q (allowed on this worker: %s); start the worker with %s=%s to permit it",
			job.Type, ErrCommandNotAllowed, p.Command, allowed, ExecAllowFlag, p.Command))
	}
	for i, a := range p.Args {
		if strings.IndexByte(a, 0) >= 0 {
			return nil, invalid(job.Type, "args[%d] contains a NUL byte", i)
		}
	}

	cmd := exec.CommandContext(ctx, path, p.Args...)
	cmd.Args[0] = p.Command
	cmd.Env = append([]string{}, h.cfg.ExecEnv...) // non-nil: do not inherit the worker's environment
	cmd.Dir = h.cfg.ExecDir
	if p.Stdin != "" {
		cmd.Stdin = strings.NewReader(p.Stdin)
	}
	stdout := &capWriter{limit: execOutLimit + 4}
	stderr := &capWriter{limit: execOutLimit + 4}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.WaitDelay = h.cfg.ExecKillGrace
	ownProcessGroup(cmd)

	if err := cmd.Start(); err != nil {
		// The executable vanished or cannot run here; another worker may do better.
		return nil, fmt.Errorf("%s: start %q (%s): %w; check the worker's %s", job.Type, p.Command, path, err, ExecAllowFlag)
	}
	err := cmd.Wait()
	killProcessGroup(cmd) // whatever the command left running in its group
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	var exitErr *exec.ExitError
	switch {
	case err == nil, errors.Is(err, exec.ErrWaitDelay):
		// ErrWaitDelay: the command exited 0 but something it started kept
		// the output pipes open past ExecKillGrace; its group has been killed.
	case errors.As(err, &exitErr):
		return nil, fmt.Errorf("%s: %w: %q (%s); stderr: %q", job.Type, ErrCommandFailed, p.Command,
			exitErr.ProcessState, excerpt(stderr.buf.Bytes(), errExcerpt))
	default:
		return nil, fmt.Errorf("%s: %q: %w", job.Type, p.Command, err)
	}
	return json.Marshal(execResult{
		ExitCode: cmd.ProcessState.ExitCode(),
		Stdout:   excerpt(stdout.buf.Bytes(), execOutLimit),
		Stderr:   excerpt(stderr.buf.Bytes(), execOutLimit),
	})
}
