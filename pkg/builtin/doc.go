// Package builtin holds the job handlers built into the shoal worker binary:
// echo, sleep, fail, http and exec. Register adds them all to a
// jobs.Registry; Config (start from DefaultConfig) sets their limits.
//
// Payloads are decoded strictly: an unknown field, a value of the wrong
// type or data after the JSON value fails the job permanently (the error
// wraps ErrInvalidPayload), so that a misspelt field is reported rather than
// ignored. An empty or null payload counts as {}. "Permanent" below means the
// error is marked with jobs.Permanent and the job goes dead at once;
// "retryable" means it is retried while attempts remain. Every handler
// returns promptly when its context is done (job timeout, cancellation,
// worker drain), with the context's error.
//
// # Built-in job types
//
// echo — returns its payload. A test and smoke-check handler.
//
//	payload: any JSON value
//	result:  the payload, unchanged
//
// sleep — waits, then succeeds. For tests, demos and load generation.
//
//	payload: {"ms": 1500}
//	result:  {"slept_ms": 1500}
//
// "ms" is required. A negative value, or one above the worker's limit
// (Config.SleepMax, default 1h), is a permanent error.
//
// fail — fails on purpose, to exercise retries and dead jobs.
//
//	payload: {"times": 2}   (optional)
//	result:  {"attempt": 3}
//
// With "times": K, attempts 1 to K fail and attempt K+1 onwards succeed
// (the job's attempt number counts attempts started, the current one
// included); give the job more than K attempts to see it succeed. Without
// "times" every attempt fails, with an error like
// "fail: attempt 3 failed on purpose". The failures are retryable; a
// negative "times" is a permanent error.
//
// http — POSTs JSON to a URL (a webhook).
//
//	payload: {"url": "https://hooks.example.com/x",
//	          "body": {"any": "JSON"},            (optional)
//	          "headers": {"Authorization": "..."}, (optional)
//	          "timeout_ms": 5000}                 (optional)
//	result:  {"status": 200, "body": "first 1 KiB of the response body"}
//
// "body" is sent as the request body with Content-Type: application/json
// (a "headers" entry may override it); without "body" the request is empty.
// Only http and https URLs are accepted. "timeout_ms" bounds the request
// (default Config.HTTPTimeout, 30s; at most Config.HTTPMaxTimeout, 10m); the
// job's own timeout applies as well. Redirects are followed up to
// Config.HTTPMaxRedirects (default 5), each target checked like the URL;
// 307 and 308 repeat the POST, 301, 302 and 303 turn it into a GET, as
// browsers do. The result's "body" is a string: the first 1024 bytes of the
// response, cut back to a UTF-8 character boundary.
//
// Outcomes: a status below 400 is success. 4xx is a permanent error (the
// request itself is wrong; repeating it will not help) except 408 Request
// Timeout and 429 Too Many Requests, which are retryable, as are 5xx, network
// errors (refused, reset, DNS, TLS) and timeout_ms expiring. The error quotes
// the status and the start of the response body. A URL refused by the rules
// below is a permanent error wrapping ErrHostNotAllowed.
//
// Server-side request forgery: an http job makes the worker send a request
// chosen by whoever can submit jobs, from inside the worker's network. By
// default any host is allowed, which suits a cluster whose submitters are as
// trusted as its workers. Otherwise set Config.HTTPAllowHosts (exact names,
// or "*.example.com" for subdomains), which also applies to redirect
// targets, and Config.HTTPBlockPrivate, which refuses loopback, private,
// link-local (cloud metadata at 169.254.169.254 included) and multicast
// addresses at connection time, after DNS resolution, so a permitted name
// that resolves to an internal address is still refused. Network egress
// rules (firewall, Kubernetes NetworkPolicy) remain the stronger control. A
// proxy from HTTPS_PROXY/HTTP_PROXY is honoured; HTTPBlockPrivate then checks
// the proxy's address, not the target's.
//
// exec — runs an allow-listed command, without a shell.
//
//	payload: {"command": "convert", "args": ["in.png", "out.jpg"], "stdin": "..."}
//	result:  {"exit_code": 0, "stdout": "first 4 KiB", "stderr": "first 4 KiB"}
//
// exec is disabled unless the worker is started with --exec-allow naming
// each command that jobs may run. Config.ExecAllow maps each such name to an
// absolute executable path; ResolveExecAllow builds it from the flag's
// values, each either a name resolved once, at start-up, against the
// worker's PATH ("--exec-allow=convert") or an explicit
// "--exec-allow=name=/absolute/path". Register checks that every path is an
// executable file. A job naming any other command fails permanently with a
// message naming --exec-allow. "command" is a name from the allow-list, never
// a path; "args" are passed as they are (no shell: no globbing, variables or
// pipes); "stdin" (optional) is the command's standard input, otherwise
// empty. The command runs in Config.ExecDir (default: the worker's working
// directory) with exactly the environment Config.ExecEnv (default empty):
// the worker's own environment, which may hold credentials, is not passed
// on.
//
// Outcomes: exit status 0 is success; "stdout" and "stderr" hold the first
// 4096 bytes of each (cut back to a UTF-8 boundary), so "exit_code" is
// always 0 in a result. A non-zero exit status or death by a signal is a
// retryable error wrapping ErrCommandFailed that quotes the start of stderr;
// failing to start the executable is retryable too (another worker may have
// it). Each command runs in a process group of its own: when the job is
// cancelled or times out the whole group is killed (SIGKILL), and when the
// command exits, whatever it left running in its group is killed as well.
// Output pipes still held open by an escaped descendant are abandoned after
// Config.ExecKillGrace (default 2s).
package builtin
