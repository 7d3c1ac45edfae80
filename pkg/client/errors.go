package client

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Sentinel errors, one per error code. An *Error matches the sentinel of its
// code with errors.Is, so callers can write errors.Is(err, client.ErrNotFound)
// whether the error came from a worker's reply or from the client itself.
var (
	// ErrBadRequest: malformed JSON or invalid fields (code "bad_request").
	ErrBadRequest = errors.New("bad request")
	// ErrUnknownType: no handler for the job type in the cluster ("unknown_type").
	ErrUnknownType = errors.New("unknown job type")
	// ErrTooLarge: payload or batch over a limit ("too_large").
	ErrTooLarge = errors.New("too large")
	// ErrNotFound: unknown job ID ("not_found").
	ErrNotFound = errors.New("job not found")
	// ErrDuplicate: the unique key is held by another job ("duplicate").
	ErrDuplicate = errors.New("duplicate job")
	// ErrUnavailable: the cluster cannot take the request now, or no worker
	// answers on the subject; retry later ("unavailable").
	ErrUnavailable = errors.New("unavailable")
	// ErrUnauthorized: the server refused the client's secret ("unauthorized").
	ErrUnauthorized = errors.New("unauthorized")
	// ErrInternal: a worker failed to handle the request ("internal").
	ErrInternal = errors.New("internal error")
)

// ErrUnreachable is returned by Dial when no server accepted a connection.
// It is not a wire code: no worker ever answered.
var ErrUnreachable = errors.New("server unreachable")

// ErrTimeout is returned when no reply came within Config.Timeout. For a
// submission the outcome is unknown: the jobs may or may not have been
// accepted. It is not a wire code.
var ErrTimeout = errors.New("request timed out")

var sentinels = map[string]error{
	CodeBadRequest:   ErrBadRequest,
	CodeUnknownType:  ErrUnknownType,
	CodeTooLarge:     ErrTooLarge,
	CodeNotFound:     ErrNotFound,
	CodeDuplicate:    ErrDuplicate,
	CodeUnavailable:  ErrUnavailable,
	CodeUnauthorized: ErrUnauthorized,
	CodeInternal:     ErrInternal,
}

// Error is an error with a wire code: a worker's ErrorBody on the client side,
// or a decoder's refusal on the server side (send it back with ReplyFromError).
type Error struct {
	// Code is one of the Code* constants.
	Code string
	// Message says what went wrong and, where it can, what to do about it.
	Message string
}

// Error returns the message followed by the code in parentheses.
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		if s, ok := sentinels[e.Code]; ok {
			msg = s.Error()
		} else {
			msg = "error"
		}
	}
	if e.Code == "" {
		return msg
	}
	return msg + " (" + e.Code + ")"
}

// Is reports whether target is the sentinel of e's code.
func (e *Error) Is(target error) bool {
	s, ok := sentinels[e.Code]
	return ok && s == target
}

// Body returns e as the wire ErrorBody.
func (e *Error) Body() ErrorBody { return ErrorBody{Code: e.Code, Message: e.Message} }

// NewError returns an *Error with a formatted message.
func NewError(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// CodeOf returns the wire code of err: the code of an *Error in its chain,
// the code of a sentinel it wraps, or CodeInternal. CodeOf(nil) is "".
func CodeOf(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != "" {
		return e.Code
	}
	for code, s := range sentinels {
		if errors.Is(err, s) {
			return code
		}
	}
	if errors.Is(err, ErrTimeout) || errors.Is(err, ErrUnreachable) {
		return CodeUnavailable
	}
	return CodeInternal
}

// ReplyError encodes an ErrorReply with the given code and message, ready to
// be sent as a reply on any API subject.
func ReplyError(code, msg string) []byte {
	b, err := json.Marshal(ErrorReply{Error: ErrorBody{Code: code, Message: msg}})
	if err != nil { // cannot happen for two strings
		return []byte(`{"error":{"code":"internal","message":"cannot encode error"}}`)
	}
	return b
}

// ReplyFromError encodes err as an ErrorReply: the code comes from CodeOf,
// the message from the *Error in the chain or from err.Error().
func ReplyFromError(err error) []byte {
	var e *Error
	if errors.As(err, &e) {
		return ReplyError(CodeOf(err), e.Message)
	}
	return ReplyError(CodeOf(err), err.Error())
}

// badRequest returns an *Error with code bad_request.
func badRequest(format string, args ...any) *Error {
	return NewError(CodeBadRequest, format, args...)
}
