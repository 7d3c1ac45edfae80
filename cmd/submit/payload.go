package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/shoal-dev/shoal/pkg/client"
)

// maxLine bounds one line of a jobs file (and a payload read from a file).
const maxLine = 16 << 20

// readPayload returns the payload named by arg: JSON text, "@file", or "-"
// for stdin; "" means {}. The JSON is checked and compacted; a syntax error
// is reported with its offset.
func readPayload(arg string, stdin io.Reader) (json.RawMessage, error) {
	var data []byte
	source := "payload"
	switch {
	case arg == "":
		return json.RawMessage(`{}`), nil
	case arg == "-":
		b, err := io.ReadAll(io.LimitReader(stdin, maxLine+1))
		if err != nil {
			return nil, fmt.Errorf("reading the payload from stdin: %w", err)
		}
		data, source = b, "payload from stdin"
	case strings.HasPrefix(arg, "@"):
		name := arg[1:]
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, usageError("reading the payload: %v", err)
		}
		data, source = b, "payload in "+name
	default:
		data = []byte(arg)
	}
	if len(data) > maxLine {
		return nil, usageError("%s is over %d MiB: jobs carry references to large data, not the data", source, maxLine>>20)
	}
	if err := checkJSON(data); err != nil {
		return nil, usageError("%s is not valid JSON: %v", source, err)
	}
	var buf bytes.Buffer
	_ = json.Compact(&buf, data) // valid, so it cannot fail
	return buf.Bytes(), nil
}

// checkJSON reports why data is not exactly one JSON value, with the byte
// offset of the problem.
func checkJSON(data []byte) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return errors.New("it is empty (use {} for an empty object)")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return fmt.Errorf("%s at offset %d", se.Error(), se.Offset)
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("unexpected end of input at offset %d", len(data))
		}
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("unexpected data after the JSON value at offset %d", dec.InputOffset())
	}
	return nil
}

// lineError is a bad line of a jobs file.
type lineError struct {
	line int
	err  error
}

// jobsFile is a parsed jobs file: the specs and, for each, its line number.
type jobsFile struct {
	specs []client.JobSpec
	lines []int
}

// readJobsFile reads JSON lines, one JobSpec object each (blank lines are
// skipped), applying defaults to the fields a line leaves out and validating
// every spec. It reads everything before returning, so that a bad line is
// found before any job is sent; it returns up to maxErrs line errors and
// the total count of bad lines.
func readJobsFile(r io.Reader, defaults func(*client.JobSpec), maxErrs int) (jobsFile, []lineError, int, error) {
	var out jobsFile
	var errs []lineError
	bad := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		spec, err := parseSpecLine(line)
		if err == nil {
			defaults(&spec)
			err = spec.Validate()
		}
		if err != nil {
			bad++
			if len(errs) < maxErrs {
				errs = append(errs, lineError{n, err})
			}
			continue
		}
		out.specs = append(out.specs, spec)
		out.lines = append(out.lines, n)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return out, errs, bad, usageError("line %d is over %d MiB", n+1, maxLine>>20)
		}
		return out, errs, bad, fmt.Errorf("reading the jobs file: %w", err)
	}
	return out, errs, bad, nil
}

// parseSpecLine decodes one JobSpec object strictly (unknown fields are
// refused, as the workers do).
func parseSpecLine(line []byte) (client.JobSpec, error) {
	if err := checkJSON(line); err != nil {
		return client.JobSpec{}, fmt.Errorf("not valid JSON: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	var spec client.JobSpec
	if err := dec.Decode(&spec); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return client.JobSpec{}, fmt.Errorf("field %s: expected %s, got %s", te.Field, te.Type, te.Value)
		}
		return client.JobSpec{}, errors.New(strings.TrimPrefix(err.Error(), "json: "))
	}
	return spec, nil
}
