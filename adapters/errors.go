package adapters

import (
	"errors"
	"fmt"
)

// Error kinds. Adapters wrap one of these with the cause ("%w: %w") and the
// proxy maps each to one HTTP status and error code (proxy/errors.go).
var (
	ErrNotFound    = errors.New("not found")
	ErrConflict    = errors.New("conflict")
	ErrInvalid     = errors.New("invalid")     // bad names, path escapes, wrong dimensions
	ErrUnavailable = errors.New("unavailable") // retryable: backend down, folder locked
	ErrCorrupt     = errors.New("corrupt")     // a stored file or row cannot be read
	ErrUnsupported = errors.New("unsupported")
)

// Error is an adapter error with a stable machine code (snake_case, part of
// the API) and a hint that tells a person how to fix it. Kind is one of the
// Err* kinds above; errors.Is(err, ErrInvalid) works through it.
type Error struct {
	Kind    error
	Code    string
	Message string
	Hint    string
	Err     error // optional cause
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Kind, e.Err}
	}
	return []error{e.Kind}
}

// Errorf builds an *Error. The message is formatted; hint is taken as is.
func Errorf(kind error, code, hint, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Hint: hint, Message: fmt.Sprintf(format, args...)}
}

// DimensionError is the error for a vector of the wrong dimension.
func DimensionError(ns Namespace, want, got int) *Error {
	return Errorf(ErrInvalid, "dimension_mismatch",
		"send vectors of the namespace's dimension, or drop the namespace to change its embedding model",
		"namespace %s holds %d-dimensional vectors, got a %d-dimensional vector", ns, want, got)
}
