package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/hybridrag/storage-proxy/adapters"
)

// ErrorBody is the one error shape of the API (openapi.yaml: Error).
type ErrorBody struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Hint      string `json:"hint,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// apiError is an error the proxy itself raises with a known status and code.
type apiError struct {
	status  int
	code    string
	message string
	hint    string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func newAPIError(status int, code, hint, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, hint: hint, message: fmt.Sprintf(format, args...)}
}

func malformed(hint, format string, args ...any) *apiError {
	return newAPIError(http.StatusBadRequest, "malformed_request", hint, format, args...)
}

// retryAfterSeconds is sent with every 503.
const retryAfterSeconds = "5"

// kindTable is the one mapping from adapter error kinds to HTTP: status and
// the code used when the adapter gave none.
var kindTable = []struct {
	kind   error
	status int
	code   string
	hint   string
}{
	{adapters.ErrInvalid, http.StatusUnprocessableEntity, "invalid_argument", "fix the request as the message says"},
	{adapters.ErrNotFound, http.StatusNotFound, "not_found", ""},
	{adapters.ErrCorrupt, http.StatusConflict, "corrupt_file", "repair or restore the named file; the other namespaces keep working"},
	{adapters.ErrUnavailable, http.StatusServiceUnavailable, "backend_unavailable", "retry later"},
	{adapters.ErrUnsupported, http.StatusNotImplemented, "unsupported", "this backend does not support the operation"},
	{adapters.ErrConflict, http.StatusConflict, "conflict", "retry with the current state"},
}

// mapError turns any error into a status and body. Unknown errors become a
// generic 500 (logged by the caller) so internals never leak.
func mapError(err error) (int, ErrorBody, bool) {
	var fe *fieldError
	if errors.As(err, &fe) {
		err = fe.apiError()
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.status, ErrorBody{Code: ae.code, Message: ae.message, Hint: ae.hint}, true
	}
	var he *echo.HTTPError
	if errors.As(err, &he) {
		return mapEchoError(he)
	}
	if errors.Is(err, context.Canceled) {
		return 499, ErrorBody{Code: "canceled", Message: "the request was canceled"}, true
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return http.StatusServiceUnavailable, ErrorBody{Code: "backend_unavailable",
			Message: "the backend did not answer in time", Hint: "retry later"}, true
	}
	var adErr *adapters.Error
	hasAd := errors.As(err, &adErr)
	for _, k := range kindTable {
		if !errors.Is(err, k.kind) {
			continue
		}
		body := ErrorBody{Code: k.code, Message: err.Error(), Hint: k.hint}
		status := k.status
		if hasAd {
			if adErr.Code != "" {
				body.Code = adErr.Code
			}
			if adErr.Hint != "" {
				body.Hint = adErr.Hint
			}
			body.Message = adErr.Error()
		}
		if k.kind == adapters.ErrInvalid && body.Code == "invalid_name" {
			status = http.StatusBadRequest
		}
		if k.kind == adapters.ErrUnavailable && body.Code == "unavailable" {
			body.Code = "backend_unavailable"
		}
		return status, body, true
	}
	return http.StatusInternalServerError, ErrorBody{Code: "internal_error",
		Message: "the proxy hit an internal error", Hint: "see the proxy's log for this request id"}, false
}

func mapEchoError(he *echo.HTTPError) (int, ErrorBody, bool) {
	switch he.Code {
	case http.StatusNotFound:
		return he.Code, ErrorBody{Code: "unknown_route", Message: "no such route",
			Hint: "see openapi.yaml (GET /v1/openapi.yaml) for the routes"}, true
	case http.StatusMethodNotAllowed:
		return he.Code, ErrorBody{Code: "method_not_allowed", Message: "this route does not take this method",
			Hint: "see openapi.yaml for the methods of this route"}, true
	case http.StatusRequestEntityTooLarge:
		return he.Code, ErrorBody{Code: "payload_too_large", Message: "the request body is too large",
			Hint: "send fewer records per call"}, true
	case http.StatusUnauthorized:
		return he.Code, ErrorBody{Code: "unauthorized", Message: fmt.Sprint(he.Message),
			Hint: "send Authorization: Bearer <token>"}, true
	}
	if he.Code >= 400 && he.Code < 500 {
		return he.Code, ErrorBody{Code: "malformed_request", Message: fmt.Sprint(he.Message)}, true
	}
	return http.StatusInternalServerError, ErrorBody{Code: "internal_error",
		Message: "the proxy hit an internal error", Hint: "see the proxy's log for this request id"}, false
}

// errorHandler is echo's HTTPErrorHandler: every failure gets the one shape.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, body, known := mapError(err)
	body.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
	if !known {
		s.log.ErrorContext(c.Request().Context(), "internal error", slog.String(logKeyRequestID, body.RequestID),
			slog.String("method", c.Request().Method), slog.String("path", c.Request().URL.Path), slog.Any("error", err))
	}
	if status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", retryAfterSeconds)
	}
	if status == 499 { // client went away: nobody reads the answer
		c.Response().WriteHeader(status)
		return
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	_ = writeJSON(c, status, body)
}
