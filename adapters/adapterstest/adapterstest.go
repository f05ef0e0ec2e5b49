// Package adapterstest is the one conformance suite every storage adapter
// runs (like net/http/httptest, it is imported only by tests). Run checks
// LightRAG's semantics as written on the interfaces in package adapters:
// the JSON adapter, the PostgreSQL adapter and the HTTP client all call it,
// so they give the same answers.
//
// Every group uses fresh, randomly named workspaces and namespaces, so the
// groups are independent and may share one backend. The suite never looks at
// an adapter's name; a real difference between backends would be declared in
// adapters.Capabilities.
package adapterstest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Run runs every group of the suite as a subtest. open returns the backend to
// test; it may return the same backend every time, and it owns closing it
// (for example in t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) adapters.Backend) {
	groups := []struct {
		name string
		run  func(t *testing.T, s *suite)
	}{
		{"KV", testKV},
		{"Vector", testVector},
		{"Graph", testGraph},
		{"DocStatus", testDocStatus},
		{"SpecialIDs", testSpecialIDs},
		{"DropIsolation", testDropIsolation},
		{"Concurrency", testConcurrency},
		{"Flush", testFlush},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			b := open(t)
			require.NotNil(t, b, "open returned no backend")
			g.run(t, &suite{b: b})
		})
	}
}

// suite is the state one group shares: the backend under test.
type suite struct {
	b adapters.Backend
}

// ctx bounds every call so a hung adapter fails the test instead of the run.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// randName is a valid, unique-enough name for a workspace or namespace. The
// kind comes last, as in LightRAG's prefixed namespaces ("<prefix>doc_status"),
// because file-based backends tell doc status from KV by the name's suffix.
func randName(kind string) string {
	return fmt.Sprintf("t%016x_%s", rand.Uint64(), kind)
}

// ns is a fresh namespace in a fresh workspace.
func ns(prefix string) adapters.Namespace {
	return adapters.Namespace{Workspace: randName("ws"), Name: randName(prefix)}
}

func (s *suite) kv(t *testing.T, n adapters.Namespace) adapters.KV {
	t.Helper()
	kv, err := s.b.KV(ctx(t), n)
	require.NoError(t, err, "open KV %s", n)
	return kv
}

func (s *suite) vector(t *testing.T, n adapters.Namespace, dim int) adapters.Vector {
	t.Helper()
	v, err := s.b.Vector(ctx(t), n, dim)
	require.NoError(t, err, "open vector %s", n)
	return v
}

func (s *suite) graph(t *testing.T, n adapters.Namespace) adapters.Graph {
	t.Helper()
	g, err := s.b.Graph(ctx(t), n)
	require.NoError(t, err, "open graph %s", n)
	return g
}

func (s *suite) docs(t *testing.T, n adapters.Namespace) adapters.DocStatus {
	t.Helper()
	d, err := s.b.DocStatus(ctx(t), n)
	require.NoError(t, err, "open doc status %s", n)
	return d
}

// raw encodes v as JSON without HTML escaping (as LightRAG writes it).
func raw(t *testing.T, v any) json.RawMessage {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(v))
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// object decodes a JSON object keeping numbers as json.Number.
func object(t *testing.T, rec []byte) map[string]any {
	t.Helper()
	require.NotNil(t, rec, "record is missing")
	dec := json.NewDecoder(bytes.NewReader(rec))
	dec.UseNumber()
	var m map[string]any
	require.NoError(t, dec.Decode(&m), "record %s", rec)
	return m
}

// requireNow checks an epoch-seconds field is within a few seconds of now.
func requireNow(t *testing.T, v any, field string) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	require.True(t, ok, "%s is %T (%v), want an integer", field, v, v)
	i, err := n.Int64()
	require.NoError(t, err, "%s = %s is not an integer", field, n)
	require.InDelta(t, time.Now().Unix(), i, 5, "%s = %d is not now", field, i)
	return i
}

// requireJSONEq compares two JSON documents, naming what is compared.
func requireJSONEq(t *testing.T, want, got []byte, msgAndArgs ...any) {
	t.Helper()
	require.NotNil(t, got, msgAndArgs...)
	require.JSONEq(t, string(want), string(got), msgAndArgs...)
}

// requireCode checks err is of kind and carries the machine code.
func requireCode(t *testing.T, err error, kind error, code string) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, kind)
	var ae *adapters.Error
	require.ErrorAs(t, err, &ae, "want an *adapters.Error, got %T: %v", err, err)
	require.Equal(t, code, ae.Code, "error %v", err)
}

func kvRecords(t *testing.T, kvs ...any) []adapters.KVRecord {
	t.Helper()
	require.Zero(t, len(kvs)%2)
	out := make([]adapters.KVRecord, 0, len(kvs)/2)
	for i := 0; i < len(kvs); i += 2 {
		out = append(out, adapters.KVRecord{ID: kvs[i].(string), Data: raw(t, kvs[i+1])})
	}
	return out
}

func ids[T any](recs []T, id func(T) string) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = id(r)
	}
	return out
}

func kvID(r adapters.KVRecord) string { return r.ID }

// numberOf and jsonInt give the json.Number that object() decodes for an int.
func numberOf(i int64) json.Number { return json.Number(strconv.FormatInt(i, 10)) }

func jsonInt(i int) json.Number { return json.Number(strconv.Itoa(i)) }
