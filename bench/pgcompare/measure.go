package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"

	"github.com/hybridrag/storage-proxy/adapters/postgres"
)

// outcome is what one call returned, reduced to what every path can be
// checked on.
type outcome struct {
	n     int      // KV: records found; graph: nodes found
	edges int      // graph: (node, neighbour) pairs
	ids   []string // vector: matched ids
}

// call asks one path iteration i's query.
type call func(ctx context.Context, i int) (outcome, error)

// kind is one measured query with its paths.
type kind struct {
	name   string
	proxy  call
	direct call
	// reference is the proxy's HTTP call sent to the reference server
	// (reference.go); nil for a query it does not serve.
	reference call
	// check compares an HTTP path's outcome with the direct one.
	check func(h, d outcome) error
}

// inputs are the per-iteration query arguments, shared by every path.
type inputs struct {
	kvIDs    [][]string
	vectors  [][]float32
	graphIDs [][]string
}

func makeInputs(o options) inputs {
	rng := rand.New(rand.NewPCG(o.seed, 4<<40))
	n := o.warmup + o.iterations
	in := inputs{kvIDs: make([][]string, n), vectors: make([][]float32, n), graphIDs: make([][]string, n)}
	for i := range n {
		for _, j := range sample(rng, o.kvRecords, o.kvBatch) {
			in.kvIDs[i] = append(in.kvIDs[i], chunkID(j))
		}
		in.vectors[i] = o.gen.query(rng, o.vectors, 10)
		for _, j := range sample(rng, o.nodes, o.graphBatch) {
			in.graphIDs[i] = append(in.graphIDs[i], nodeID(j))
		}
	}
	return in
}

// httpPaths sends the JSON bodies the Python client sends.
type httpPaths struct {
	c    *http.Client
	base string
	o    options
	in   inputs
}

// newHTTPPaths sends to base with a client and connections of its own, so
// servers measured side by side share no connection pool.
func newHTTPPaths(base string, o options, in inputs) *httpPaths {
	return &httpPaths{base: base, o: o, in: in,
		c: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableCompression: true}}}
}

func (h *httpPaths) post(ctx context.Context, path string, body any, out any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.base+path, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.c.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("POST %s: read response: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: status %d: %.500s", path, resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("POST %s: decode response: %w", path, err)
	}
	return nil
}

// getVersion is a GET of /v1/version at base: the HTTP round trip and
// middleware with no storage work.
func (h *httpPaths) getVersion(ctx context.Context, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/version", nil)
	if err != nil {
		return err
	}
	resp, err := h.c.Do(req)
	if err != nil {
		return fmt.Errorf("GET /v1/version: %w", err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("GET /v1/version: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v1/version: status %d", resp.StatusCode)
	}
	return nil
}

func (h *httpPaths) dbPath(kind, ns, op string) string {
	return "/v1/databases/" + benchDatabase + "/" + kind + "/" + ns + "/" + op
}

func (h *httpPaths) kvGet(ctx context.Context, i int) (outcome, error) {
	var out struct {
		Records []json.RawMessage `json:"records"`
	}
	if err := h.post(ctx, h.dbPath("kv", nsTextChunks, "get"), map[string]any{"ids": h.in.kvIDs[i]}, &out); err != nil {
		return outcome{}, err
	}
	var o outcome
	for _, r := range out.Records {
		if string(r) != "null" {
			o.n++
		}
	}
	return o, nil
}

// encodeVector is the Python client's encode_vector: base64 of
// little-endian float32.
func encodeVector(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return base64.StdEncoding.EncodeToString(b)
}

func (h *httpPaths) vectorQuery(ctx context.Context, i int) (outcome, error) {
	var out struct {
		Matches []struct {
			ID     string          `json:"id"`
			Fields json.RawMessage `json:"fields"`
		} `json:"matches"`
	}
	body := map[string]any{"vector": encodeVector(h.in.vectors[i]), "top_k": h.o.topK, "threshold": h.o.threshold}
	path := h.dbPath("vectors", nsChunks, "query") + fmt.Sprintf("?dim=%d", h.o.dim)
	if err := h.post(ctx, path, body, &out); err != nil {
		return outcome{}, err
	}
	var o outcome
	for _, m := range out.Matches {
		o.ids = append(o.ids, m.ID)
	}
	return o, nil
}

func (h *httpPaths) nodesEdges(ctx context.Context, i int) (outcome, error) {
	var out struct {
		Edges []struct {
			Found bool `json:"found"`
			Edges []struct {
				Src string `json:"src"`
				Tgt string `json:"tgt"`
			} `json:"edges"`
		} `json:"edges"`
	}
	if err := h.post(ctx, h.dbPath("graphs", nsGraph, "nodes/edges"), map[string]any{"ids": h.in.graphIDs[i]}, &out); err != nil {
		return outcome{}, err
	}
	var o outcome
	for _, e := range out.Edges {
		if e.Found {
			o.n++
		}
		o.edges += len(e.Edges)
	}
	return o, nil
}

// sqlPaths run the statements adapters/postgres runs for the same calls
// (kv.go GetByIDs, vector.go Query, graph.go GetNodesEdges, all three built
// by the adapter's own code), including the pipeline and the settings
// the adapter sends the vector read with, and read every column back.
type sqlPaths struct {
	pool      *pgxpool.Pool
	o         options
	in        inputs
	kvSQL     string
	vectorSQL string
	// annSettings is the adapter's settings statement for an indexed query
	// on this server's pgvector (iterative scans from 0.8).
	annSettings string
}

// kvGetSQL is the adapter's statement for a get of text_chunks ($1
// workspace, $2 the ids), its select list built by the adapter.
func kvGetSQL() (string, error) {
	kvSel, err := postgres.SelectListSQL("lightrag_doc_chunks", 0)
	if err != nil {
		return "", err
	}
	return `SELECT ` + kvSel + ` FROM "lightrag_doc_chunks" WHERE workspace = $1 AND id = ANY($2)`, nil
}

func newSQLPaths(pool *pgxpool.Pool, o options, in inputs, vectorTable, pgvectorVersion string) (*sqlPaths, error) {
	kvSQL, err := kvGetSQL()
	if err != nil {
		return nil, err
	}
	vecSQL, err := postgres.VectorQuerySQL(vectorTable, o.dim)
	if err != nil {
		return nil, err
	}
	return &sqlPaths{pool: pool, o: o, in: in,
		kvSQL: kvSQL, vectorSQL: vecSQL, annSettings: postgres.ANNSettingsSQL(pgvectorVersion),
	}, nil
}

func (s *sqlPaths) kvGet(ctx context.Context, i int) (outcome, error) {
	rows, err := s.pool.Query(ctx, s.kvSQL, benchWorkspace, s.in.kvIDs[i])
	if err != nil {
		return outcome{}, fmt.Errorf("kv get: %w", err)
	}
	defer rows.Close()
	var o outcome
	for rows.Next() {
		if _, err := rows.Values(); err != nil {
			return outcome{}, fmt.Errorf("kv get: %w", err)
		}
		o.n++
	}
	return o, rows.Err()
}

// efSearch is the adapter's hnsw.ef_search for a top k, as the text
// set_config takes.
func efSearch(k int) string { return strconv.Itoa(postgres.EfSearch(k)) }

func (s *sqlPaths) vectorQuery(ctx context.Context, i int) (outcome, error) {
	return s.vectorQueryWith(ctx, i, s.annSettings, efSearch(s.o.topK))
}

// exactVectorQuery is the exact answer the recall is measured against.
func (s *sqlPaths) exactVectorQuery(ctx context.Context, i int) (outcome, error) {
	return s.vectorQueryWith(ctx, i, postgres.ExactSettingsSQL)
}

// explainVector is the plan of the direct vector query under the adapter's
// settings.
func (s *sqlPaths) explainVector(ctx context.Context) (string, error) {
	var plan []string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, s.annSettings, efSearch(s.o.topK)); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, "EXPLAIN "+s.vectorSQL, benchWorkspace, pgvector.NewVector(s.in.vectors[0]), int64(s.o.topK))
		if err != nil {
			return err
		}
		plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		return "", fmt.Errorf("explain the vector query: %w", err)
	}
	return strings.Join(plan, "\n"), nil
}

func (s *sqlPaths) vectorQueryWith(ctx context.Context, i int, settings string, settingArgs ...any) (o outcome, err error) {
	// Settings and query as one pipeline (an implicit transaction the
	// settings are local to), as the adapter sends them.
	batch := &pgx.Batch{}
	batch.Queue(settings, settingArgs...)
	batch.Queue(s.vectorSQL, benchWorkspace, pgvector.NewVector(s.in.vectors[i]), int64(s.o.topK))
	br := s.pool.SendBatch(ctx, batch)
	defer func() {
		if cerr := br.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("vector query: %w", cerr)
		}
	}()
	if _, err := br.Exec(); err != nil {
		return outcome{}, fmt.Errorf("vector query: %w", err)
	}
	rows, err := br.Query()
	if err != nil {
		return outcome{}, fmt.Errorf("vector query: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return outcome{}, fmt.Errorf("vector query: %w", err)
		}
		vec, ok := vals[len(vals)-1].(pgvector.Vector)
		if !ok {
			return outcome{}, fmt.Errorf("vector query: content_vector decoded as %T, want pgvector.Vector", vals[len(vals)-1])
		}
		// The adapter's threshold: exact float32 cosine.
		if float64(dot32(s.in.vectors[i], vec.Slice())) >= s.o.threshold {
			o.ids = append(o.ids, vals[0].(string))
		}
	}
	if err := rows.Err(); err != nil {
		return outcome{}, fmt.Errorf("vector query: %w", err)
	}
	return o, nil
}

// dot32 is the cosine of two unit vectors.
func dot32(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func (s *sqlPaths) nodesEdges(ctx context.Context, i int) (outcome, error) {
	ids := s.in.graphIDs[i]
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	rows, err := s.pool.Query(ctx, postgres.NodesEdgesSQL, benchWorkspace, nsGraph, ids)
	if err != nil {
		return outcome{}, fmt.Errorf("nodes edges: %w", err)
	}
	var o outcome
	var node, src, tgt pgtype.Text
	_, err = pgx.ForEachRow(rows, []any{&node, &src, &tgt}, func() error {
		if node.Valid {
			o.n++
			return nil
		}
		if want[src.String] {
			o.edges++
		}
		if src.String != tgt.String && want[tgt.String] {
			o.edges++
		}
		return nil
	})
	if err != nil {
		return outcome{}, fmt.Errorf("nodes edges: %w", err)
	}
	return o, nil
}

// kinds are the measured queries: h sends to the proxy, ref the same calls
// to the reference server, s straight to PostgreSQL.
func kinds(h, ref *httpPaths, s *sqlPaths) []kind {
	return []kind{
		{name: fmt.Sprintf("KV get %d ids (text_chunks)", h.o.kvBatch), proxy: h.kvGet, direct: s.kvGet, reference: ref.kvGet,
			check: func(p, d outcome) error {
				if p.n != d.n || p.n != h.o.kvBatch {
					return fmt.Errorf("HTTP found %d records, direct %d, want %d", p.n, d.n, h.o.kvBatch)
				}
				return nil
			}},
		{name: fmt.Sprintf("vector top-%d (HNSW, chunks)", h.o.topK), proxy: h.vectorQuery, direct: s.vectorQuery,
			check: func(p, d outcome) error {
				a, b := slices.Sorted(slices.Values(p.ids)), slices.Sorted(slices.Values(d.ids))
				if !slices.Equal(a, b) {
					return fmt.Errorf("HTTP matched %v, direct %v", a, b)
				}
				return nil
			}},
		{name: fmt.Sprintf("get_nodes_edges_batch %d nodes", h.o.graphBatch), proxy: h.nodesEdges, direct: s.nodesEdges, reference: ref.nodesEdges,
			check: func(p, d outcome) error {
				if p.n != d.n || p.edges != d.edges || p.n != h.o.graphBatch {
					return fmt.Errorf("HTTP found %d nodes / %d edges, direct %d / %d", p.n, p.edges, d.n, d.edges)
				}
				return nil
			}},
	}
}

// timings are one kind's latencies per path, and the proxy's and the
// reference server's CPU time over the kind's timed phase.
type timings struct {
	name          string
	proxy, direct []time.Duration
	reference     []time.Duration // none for a kind without a reference path
	matches       int             // vector: results per query, summed over the timed run
	proxyCPU      time.Duration
	referenceCPU  time.Duration
}

// cpuClock reads a child process's CPU time so far.
type cpuClock func() (time.Duration, error)

// Positions of the paths in what interleave returns.
const (
	atProxy = iota
	atDirect
	atReference
)

// measure runs each kind in a phase of its own: warmup iterations (checking
// that the HTTP paths agree with the direct one), then the timed ones,
// rotating which path goes first. proxyCPU and refCPU read the proxy's and
// the reference server's CPU time before and after each timed phase: no
// other path touches either process, so the difference over the phase's
// calls to it is its CPU per call.
func measure(ctx context.Context, o options, ks []kind, proxyCPU, refCPU cpuClock) ([]timings, error) {
	out := make([]timings, len(ks))
	for k, kd := range ks {
		out[k].name = kd.name
		paths := []path{atProxy: {"proxy", kd.proxy}, atDirect: {"direct", kd.direct}}
		if kd.reference != nil {
			paths = append(paths, path{"reference", kd.reference})
		}
		var cpu0, ref0 time.Duration
		for i := range o.warmup + o.iterations {
			if i == o.warmup {
				var err error
				if cpu0, err = proxyCPU(); err != nil {
					return nil, err
				}
				if ref0, err = refCPU(); err != nil {
					return nil, err
				}
			}
			d, r, err := interleave(ctx, i, paths)
			if err != nil {
				return nil, fmt.Errorf("%s, iteration %d: %w", kd.name, i, err)
			}
			if i < o.warmup {
				for p := range paths {
					if p == atDirect {
						continue
					}
					if err := kd.check(r[p], r[atDirect]); err != nil {
						return nil, fmt.Errorf("%s, iteration %d: the %s and direct paths disagree: %w", kd.name, i, paths[p].name, err)
					}
				}
				continue
			}
			out[k].proxy = append(out[k].proxy, d[atProxy])
			out[k].direct = append(out[k].direct, d[atDirect])
			if kd.reference != nil {
				out[k].reference = append(out[k].reference, d[atReference])
			}
			out[k].matches += len(r[atProxy].ids)
		}
		cpu1, err := proxyCPU()
		if err != nil {
			return nil, err
		}
		ref1, err := refCPU()
		if err != nil {
			return nil, err
		}
		out[k].proxyCPU, out[k].referenceCPU = cpu1-cpu0, ref1-ref0
	}
	return out, nil
}

// path is one way of asking a query, named for messages.
type path struct {
	name string
	call call
}

// interleave calls every path once for iteration i, path i%len(paths) first
// and the others after it in turn (so the first place rotates over the
// iterations); it returns their times and outcomes in paths' order.
func interleave(ctx context.Context, i int, paths []path) ([]time.Duration, []outcome, error) {
	n := len(paths)
	d, r := make([]time.Duration, n), make([]outcome, n)
	for j := range n {
		p := (i + j) % n
		t0 := time.Now()
		res, err := paths[p].call(ctx, i)
		d[p] = time.Since(t0)
		if err != nil {
			return nil, nil, fmt.Errorf("%s path: %w", paths[p].name, err)
		}
		r[p] = res
	}
	return d, r, nil
}

// floorTimings are the HTTP floor's latencies: GET /v1/version through the
// proxy and the same GET to a bare net/http server.
type floorTimings struct {
	proxy, bare []time.Duration
	proxyCPU    time.Duration // over the timed phase
}

// measureFloor times the HTTP floor in a phase of its own (timing it inside
// the query loop measured the machine's state after each heavy query, not
// the round trip), alternating the proxy with a bare net/http server that
// answers the same body, so their difference is what the proxy's HTTP layer
// adds.
func measureFloor(ctx context.Context, o options, h *httpPaths, bareBase string, cpu cpuClock) (floorTimings, error) {
	var out floorTimings
	get := func(base string) call {
		return func(ctx context.Context, _ int) (outcome, error) { return outcome{}, h.getVersion(ctx, base) }
	}
	paths := []path{{"proxy", get(h.base)}, {"bare server", get(bareBase)}}
	var cpu0 time.Duration
	for i := range o.warmup + o.iterations {
		if i == o.warmup {
			var err error
			if cpu0, err = cpu(); err != nil {
				return out, err
			}
		}
		d, _, err := interleave(ctx, i, paths)
		if err != nil {
			return out, fmt.Errorf("HTTP floor, iteration %d: %w", i, err)
		}
		if i >= o.warmup {
			out.proxy = append(out.proxy, d[0])
			out.bare = append(out.bare, d[1])
		}
	}
	cpu1, err := cpu()
	out.proxyCPU = cpu1 - cpu0
	return out, err
}

// percentile is the nearest-rank percentile of sorted d.
func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := (len(d)*p + 99) / 100
	return d[max(i-1, 0)]
}
