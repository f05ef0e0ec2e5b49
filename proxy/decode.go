package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/hybridrag/storage-proxy/adapters"
)

// maxBodyHint caps the buffer sized from Content-Length up front.
const maxBodyHint = 1 << 30

const bodyHint = "see openapi.yaml (GET /v1/openapi.yaml) for this request's body"

// bufPool recycles request and response buffers on the hot path.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// putBuf returns buf to the pool unless it grew large: a pooled buffer
// pins its memory, so one large request would keep it for good.
func putBuf(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBuffer {
		bufPool.Put(buf)
	}
}

// decodeBody reads the whole body (bounded by the size limit middleware) and
// decodes it strictly: unknown fields, wrong types and trailing data are 400s
// naming the field.
func decodeBody(c echo.Context, dst any) error {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer putBuf(buf)
	if n := c.Request().ContentLength; n > 0 && n <= maxBodyHint {
		// Sized once: growing by doubling would take up to twice the body.
		// (The body limit middleware already refused one over the limit.)
		buf.Grow(int(n) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(c.Request().Body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(mbe.Limit)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return bodyTimeout()
		}
		return malformed("", "read request body: %v", err)
	}
	if buf.Len() == 0 {
		return malformed(bodyHint, "the request body is empty; this route takes a JSON object")
	}
	if _, ok := dst.(interface{ exactText() }); ok {
		if err := checkExactText(buf.Bytes()); err != nil {
			return err
		}
	}
	if err := checkBatchRaw(dst, buf.Bytes()); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(buf.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if dec.More() {
		return malformed(bodyHint, "the request body has data after the JSON object")
	}
	if err := checkBatch(dst); err != nil {
		return err
	}
	if v, ok := dst.(interface{ validate() error }); ok {
		return v.validate()
	}
	return nil
}

// checkExactText refuses what Go's JSON decoder would silently replace with
// U+FFFD (a lone surrogate escape, bytes that are not UTF-8): stored
// replaced, distinct ids would collide.
func checkExactText(body []byte) error {
	const hint = "send text as valid Unicode; a lone surrogate or a byte that is not UTF-8 cannot be stored as sent"
	if esc, ok := adapters.LoneSurrogate(body); ok {
		return newAPIError(kindInvalid, "invalid_character", hint,
			"the request body holds the lone surrogate %s", esc)
	}
	if !utf8.Valid(body) {
		return newAPIError(kindInvalid, "invalid_character", hint,
			"the request body holds bytes that are not UTF-8")
	}
	return nil
}

// bodyTimeout answers a body that did not arrive within
// Config.BodyReadTimeout.
func bodyTimeout() *apiError {
	return newAPIError(kindTimeout, "request_timeout",
		"send the whole body without pausing, or raise the proxy's --body-read-timeout for very slow links",
		"the request body did not arrive in time")
}

func tooLarge(limit int64) *apiError {
	return newAPIError(kindTooLarge, "payload_too_large",
		"split the batch into smaller calls", "the request body is larger than the limit of %d bytes", limit)
}

// decodeError names what is wrong with a body that did not decode.
func decodeError(err error) error {
	var (
		syn   *json.SyntaxError
		typ   *json.UnmarshalTypeError
		field *fieldError
	)
	switch {
	case errors.As(err, &field):
		return field.apiError()
	case errors.As(err, &syn):
		return malformed(bodyHint, "the request body is not valid JSON (at byte %d): %v", syn.Offset, syn)
	case errors.As(err, &typ):
		name := typ.Field
		if name == "" {
			return malformed(bodyHint, "the request body must be a JSON object, got a JSON %s", typ.Value)
		}
		return malformed(bodyHint, "field %q has the wrong type: got a JSON %s, want %s", name, typ.Value, goTypeName(typ.Type.String()))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return malformed(bodyHint, "the request body is truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.TrimPrefix(err.Error(), "json: unknown field ")
		return malformed(bodyHint, "unknown field %s in the request body", f)
	}
	return malformed(bodyHint, "the request body is not valid: %v", err)
}

// goTypeName turns a Go type into the JSON words a client understands.
func goTypeName(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"), strings.HasSuffix(t, "List"):
		return "an array"
	case t == "string":
		return "a string"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "float"), strings.HasPrefix(t, "uint"):
		return "a number"
	case t == "bool":
		return "a boolean"
	case strings.HasPrefix(t, "map["), strings.Contains(t, "Records"), strings.Contains(t, "Props"):
		return "an object"
	}
	return "a " + t
}

// fieldError is a problem with one field's value found by a custom decoder
// or a validate method.
type fieldError struct {
	field string
	msg   string
	kind  errKind // default kindMalformed
	code  string
}

func (e *fieldError) Error() string { return fmt.Sprintf("field %q %s", e.field, e.msg) }

func (e *fieldError) apiError() *apiError {
	kind, code := e.kind, e.code
	if kind == "" {
		kind, code = kindMalformed, "malformed_request"
	}
	return newAPIError(kind, code, bodyHint, "field %q %s", e.field, e.msg)
}

func missing(field string) error {
	return (&fieldError{field: field, msg: "is required"}).apiError()
}

// writeJSON writes v without HTML escaping (ids contain "<SEP>").
func writeJSON(c echo.Context, status int, v any) error {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer putBuf(buf)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	return writeBody(c, status, buf.Bytes())
}

// writeBody writes a JSON body with its length, so net/http sends it
// without chunking.
func writeBody(c echo.Context, status int, body []byte) error {
	c.Response().Header().Set(echo.HeaderContentLength, strconv.Itoa(len(body)))
	return c.Blob(status, echo.MIMEApplicationJSON, body)
}

// writeRecords writes recordsBody{Records: recs} as writeJSON would, in one
// pass over the records' bytes: they are valid JSON from the adapter, so
// they are compacted but not parsed again.
func writeRecords(c echo.Context, recs []adapters.Record) error {
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	n := len(`{"records":[]}`) + 1
	for _, r := range recs {
		n += len(r) + 1
	}
	buf.Grow(n)
	b := append(buf.AvailableBuffer(), `{"records":[`...)
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		if r == nil {
			b = append(b, "null"...)
			continue
		}
		b = adapters.AppendCompact(b, r)
	}
	b = append(b, "]}\n"...)
	buf.Write(b)
	return writeBody(c, http.StatusOK, buf.Bytes())
}
