package proxy

import (
	"testing"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/adapters/adapterstest"
	"github.com/hybridrag/storage-proxy/proxy/proxyclient"
)

// The adapter conformance suite through HTTP: server on 127.0.0.1 over a
// temp registry with the JSON backend, every call through proxyclient, every
// request and response checked against openapi.yaml.
func TestHTTPConformance(t *testing.T) {
	ts := startServer(t, testOptions{})
	adapterstest.Run(t, func(t *testing.T) adapters.Backend {
		return proxyclient.New(ts.URL, "default", "", nil)
	})
}

func TestHTTPConformanceWithToken(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	ts := startServer(t, testOptions{token: "s3cret"})
	adapterstest.Run(t, func(t *testing.T) adapters.Backend {
		return proxyclient.New(ts.URL, "default", "s3cret", nil)
	})
}
