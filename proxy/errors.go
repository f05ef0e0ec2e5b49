package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/labstack/echo/v4"

	"github.com/hybridrag/storage-proxy/adapters"
)

// ErrorBody is the one error shape of the API (openapi.yaml: Error).
type ErrorBody struct {
	Code string `json:"code"`
	// Kind is the class of the failure; it alone decides the status
	// (kindStatus), so clients may branch on it instead of on codes.
	Kind      string `json:"kind,omitempty"`
	Message   string `json:"message"`
	Hint      string `json:"hint,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// errKind is the class of a failure (ErrorBody.Kind).
type errKind string

// Error kinds. A client mistake is always a 4xx kind.
const (
	kindMalformed    errKind = "malformed"          // the request does not parse
	kindInvalid      errKind = "invalid"            // it parses but a value is not acceptable
	kindUnauthorized errKind = "unauthorized"       // token missing or wrong
	kindNotFound     errKind = "not_found"          // no such database, route or record
	kindMethod       errKind = "method_not_allowed" // the route does not take the method
	kindTimeout      errKind = "timeout"            // the body did not arrive in time
	kindConflict     errKind = "conflict"           // the state refuses it (a lock, a migration)
	kindCorrupt      errKind = "corrupt"            // a stored file is damaged
	kindTooLarge     errKind = "too_large"          // the request asks for too much
	kindCanceled     errKind = "canceled"           // the client went away
	kindInternal     errKind = "internal"           // a bug: logged with the request id
	kindUnsupported  errKind = "unsupported"        // the backend cannot do it
	kindUnavailable  errKind = "unavailable"        // the backend cannot answer now: retry
)

// kindStatus is the one mapping from error kinds to HTTP statuses.
var kindStatus = map[errKind]int{
	kindMalformed:    http.StatusBadRequest,
	kindInvalid:      http.StatusUnprocessableEntity,
	kindUnauthorized: http.StatusUnauthorized,
	kindNotFound:     http.StatusNotFound,
	kindMethod:       http.StatusMethodNotAllowed,
	kindTimeout:      http.StatusRequestTimeout,
	kindConflict:     http.StatusConflict,
	kindCorrupt:      http.StatusConflict,
	kindTooLarge:     http.StatusRequestEntityTooLarge,
	kindCanceled:     499, // nginx's "client closed request": nobody reads it
	kindInternal:     http.StatusInternalServerError,
	kindUnsupported:  http.StatusNotImplemented,
	kindUnavailable:  http.StatusServiceUnavailable,
}

// apiError is an error the proxy itself raises with a known kind and code.
type apiError struct {
	kind    errKind
	code    string
	message string
	hint    string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func (e *apiError) body() ErrorBody {
	return ErrorBody{Code: e.code, Kind: string(e.kind), Message: e.message, Hint: e.hint}
}

func newAPIError(kind errKind, code, hint, format string, args ...any) *apiError {
	return &apiError{kind: kind, code: code, hint: hint, message: fmt.Sprintf(format, args...)}
}

func malformed(hint, format string, args ...any) *apiError {
	return newAPIError(kindMalformed, "malformed_request", hint, format, args...)
}

// retryAfterSeconds is sent with every 503.
const retryAfterSeconds = "5"

// adapterKinds maps the adapters' error kinds to the API's, with the code
// and hint used when the adapter gave none.
var adapterKinds = []struct {
	err  error
	kind errKind
	code string
	hint string
}{
	{adapters.ErrInvalid, kindInvalid, "invalid_argument", "fix the request as the message says"},
	{adapters.ErrNotFound, kindNotFound, "not_found", ""},
	{adapters.ErrCorrupt, kindCorrupt, "corrupt_file", "repair or restore the named file; the other namespaces keep working"},
	{adapters.ErrUnavailable, kindUnavailable, "backend_unavailable", "retry later"},
	{adapters.ErrUnsupported, kindUnsupported, "unsupported", "this backend does not support the operation"},
	{adapters.ErrConflict, kindConflict, "conflict", "retry with the current state"},
}

var errInternal = newAPIError(kindInternal, "internal_error", "see the proxy's log for this request id",
	"the proxy hit an internal error")

// classify turns any error into the API's error; ok is false for an
// unknown error (a 500 whose details go to the log only, never the client).
func classify(err error) (*apiError, bool) {
	var fe *fieldError
	if errors.As(err, &fe) {
		err = fe.apiError()
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return ae, true
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return classifyEcho(he)
	}
	switch {
	case errors.Is(err, context.Canceled):
		return newAPIError(kindCanceled, "canceled", "", "the request was canceled"), true
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The connection's read deadline (Config.BodyReadTimeout) passed.
		return bodyTimeout(), true
	case errors.Is(err, context.DeadlineExceeded):
		return newAPIError(kindUnavailable, "backend_unavailable", "retry later", "the backend did not answer in time"), true
	}
	var adErr *adapters.Error
	hasAd := errors.As(err, &adErr)
	for _, k := range adapterKinds {
		if !errors.Is(err, k.err) {
			continue
		}
		out := &apiError{kind: k.kind, code: k.code, message: err.Error(), hint: k.hint}
		if hasAd {
			if adErr.Code != "" {
				out.code = adErr.Code
			}
			if adErr.Hint != "" {
				out.hint = adErr.Hint
			}
			out.message = adErr.Error()
		}
		switch {
		case k.kind == kindInvalid && out.code == "invalid_name":
			out.kind = kindMalformed // a name that cannot be one is a malformed path
		case k.kind == kindUnavailable && out.code == "unavailable":
			out.code = "backend_unavailable"
		}
		return out, true
	}
	return errInternal, false
}

// mapError turns any error into a status and body; known is false for an
// unknown error (logged by the caller).
func mapError(err error) (status int, body ErrorBody, known bool) {
	ae, known := classify(err)
	return kindStatus[ae.kind], ae.body(), known
}

func classifyEcho(he *echo.HTTPError) (*apiError, bool) {
	switch he.Code {
	case http.StatusNotFound:
		return newAPIError(kindNotFound, "unknown_route", "see openapi.yaml (GET /v1/openapi.yaml) for the routes", "no such route"), true
	case http.StatusMethodNotAllowed:
		return newAPIError(kindMethod, "method_not_allowed", "see openapi.yaml for the methods of this route",
			"this route does not take this method"), true
	case http.StatusRequestEntityTooLarge:
		return newAPIError(kindTooLarge, "payload_too_large", "send fewer records per call", "the request body is too large"), true
	case http.StatusUnauthorized:
		return newAPIError(kindUnauthorized, "unauthorized", "send Authorization: Bearer <token>", "%v", he.Message), true
	}
	if he.Code >= 400 && he.Code < 500 {
		return newAPIError(kindMalformed, "malformed_request", "", "%v", he.Message), true
	}
	return errInternal, false
}

// errorHandler is echo's HTTPErrorHandler: every failure gets the one shape.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, body, known := mapError(err)
	body.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
	c.Set(ctxKeyError, body)
	if !known {
		s.log.ErrorContext(c.Request().Context(), "internal error", slog.String(logKeyRequestID, body.RequestID),
			slog.String("method", c.Request().Method), slog.String("path", c.Request().URL.Path), slog.Any("error", err))
	}
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", retryAfterSeconds)
	}
	if status == kindStatus[kindCanceled] { // client went away: nobody reads the answer
		c.Response().WriteHeader(status)
		return
	}
	if status == http.StatusRequestTimeout {
		// The rest of the body may still be on its way: do not read it.
		c.Response().Header().Set(echo.HeaderConnection, "close")
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = writeJSON(c, status, body)
}

// ctxKeyError is where errorHandler leaves the error body for the access
// log and the outage log (outage.go).
const ctxKeyError = "hybridrag.error"
