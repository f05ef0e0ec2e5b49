package proxy

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
)

// net/http answers a request it cannot parse (an invalid escape in the path
// such as /v1/databases/%ZZ/..., a bad header line, headers too large)
// itself, before any handler runs, with a plain-text body. These are its
// exact bytes: "HTTP/1.1 " + status + goErrorHeaders + body, written to the
// connection in one Write. Go's own responses sort their headers
// (Connection before Content-Type), so a handler's answer never holds them.
const goErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// jsonErrorListener gives net/http's own error answers the API's error
// shape: each accepted connection rewrites them as they are written.
type jsonErrorListener struct{ net.Listener }

func (l jsonErrorListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jsonErrorConn{Conn: c}, nil
}

type jsonErrorConn struct{ net.Conn }

func (c *jsonErrorConn) Write(p []byte) (int, error) {
	out, ok := rewriteGoError(p)
	if !ok {
		return c.Conn.Write(p)
	}
	if _, err := c.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseWrite keeps net/http's half-close (after a 431) working.
func (c *jsonErrorConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// rewriteGoError turns one of net/http's plain-text error answers into the
// API's error shape; ok is false for anything else.
func rewriteGoError(p []byte) ([]byte, bool) {
	const proto = "HTTP/1.1 "
	// net/http's own answers are a few hundred bytes in one Write: larger
	// writes (response bodies) are passed on without a scan.
	if len(p) > 1024 || !bytes.HasPrefix(p, []byte(proto)) {
		return nil, false
	}
	i := bytes.Index(p, []byte(goErrorHeaders))
	if i < 0 || i < len(proto)+3 {
		return nil, false
	}
	statusLine, text := string(p[len(proto):i]), string(p[i+len(goErrorHeaders):])
	status, err := strconv.Atoi(statusLine[:3])
	if err != nil || status < 400 || status > 599 {
		return nil, false
	}
	var ae *apiError
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		ae = newAPIError(kindTooLarge, "headers_too_large", "send shorter headers (or a shorter URL)",
			"the request's headers are larger than the proxy accepts")
	case http.StatusNotImplemented:
		ae = newAPIError(kindUnsupported, "unsupported", "send the body with Content-Length or chunked encoding",
			"the request's transfer encoding is not supported")
	default:
		reason := "the request line or a header does not parse"
		if _, after, found := bytes.Cut([]byte(text), []byte(": ")); found {
			reason = string(after)
		}
		ae = malformed("percent-encode the path (a literal % is %25; an escape is % and two hex digits) and send well-formed headers",
			"the request is not valid HTTP: %s", reason)
	}
	var id [12]byte
	_, _ = rand.Read(id[:])
	body := ae.body()
	body.RequestID = hex.EncodeToString(id[:])
	data, err := json.Marshal(body)
	if err != nil {
		return nil, false
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: %d\r\nContent-Type: application/json\r\nX-Request-Id: %s\r\n\r\n",
		kindStatus[ae.kind], http.StatusText(kindStatus[ae.kind]), len(data), body.RequestID)
	b.Write(data)
	return b.Bytes(), true
}
