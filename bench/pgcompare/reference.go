package main

// The reference server: the least an HTTP server in its own process can do
// for the bench's KV get and get_nodes_edges_batch. run starts this binary
// again with --serve-reference (GOMAXPROCS=1) and times it next to the proxy
// and the direct pgx path, so the report separates what the proxy adds from
// what any server across a process boundary pays (loopback HTTP, a request
// decoded, a response encoded). It is a bare net/http mux (no framework,
// middleware or logging) over a pgx pool configured as the direct path's,
// running the adapter's own SQL and appending its JSON by hand into one
// buffer written at once.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/hybridrag/storage-proxy/adapters"
	"github.com/hybridrag/storage-proxy/adapters/postgres"
)

// referenceFlag is the hidden flag that runs the reference server on a
// loopback address instead of the bench.
const referenceFlag = "serve-reference"

type referenceServer struct {
	pool  *pgxpool.Pool
	kvSQL string
}

// serveReference serves the reference server's routes on addr, on the
// database dsn names, until ctx ends.
func serveReference(ctx context.Context, addr, dsn string) error {
	kvSQL, err := kvGetSQL()
	if err != nil {
		return err
	}
	pool, err := directPool(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	// Ready means the database answers too.
	if err := pool.Ping(ctx); err != nil {
		return fmt.Errorf("reference server: ping the database: %w", err)
	}
	s := &referenceServer{pool: pool, kvSQL: kvSQL}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/databases/"+benchDatabase+"/kv/"+nsTextChunks+"/get", s.handle(s.kvGet))
	mux.HandleFunc("POST /v1/databases/"+benchDatabase+"/graphs/"+nsGraph+"/nodes/edges", s.handle(s.nodesEdges))
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, []byte("{}\n")) })
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("reference server: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Minute}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	select {
	case err := <-served:
		return fmt.Errorf("reference server: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("reference server: shut down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("reference server: %w", err)
	}
	return nil
}

// handle decodes a body {"ids": [...]}, answers it with answer's JSON, and
// reports failures as 400 (the request) or 500 (the query) with the error's
// text for the bench's message.
func (s *referenceServer) handle(answer func(ctx context.Context, ids []string) ([]byte, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req struct {
			IDs []string `json:"ids"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		b, err := answer(r.Context(), req.IDs)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		writeJSON(w, b)
	}
}

// writeJSON sends b in one Write with its length, so net/http neither
// chunks nor buffers it twice.
func writeJSON(w http.ResponseWriter, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// kvGet answers {"records": [...]}: per requested id in order, the row's
// columns as an object (column name -> value, NULLs left out), or null.
// The keys are the SQL's column names, not LightRAG's fields, and JSONB
// arrives as text and goes out as a string: the bytes are about the
// proxy's, and the client only counts the records.
func (s *referenceServer) kvGet(ctx context.Context, ids []string) ([]byte, error) {
	rows, err := s.pool.Query(ctx, s.kvSQL, benchWorkspace, ids)
	if err != nil {
		return nil, fmt.Errorf("kv get: %w", err)
	}
	defer rows.Close()
	var objs []byte                         // the rows' objects, back to back
	at := make(map[string][2]int, len(ids)) // id -> its object in objs
	var keys [][]byte
	for rows.Next() {
		fds := rows.FieldDescriptions()
		if keys == nil {
			keys = columnKeys(fds)
		}
		raw := rows.RawValues()
		start := len(objs)
		objs = append(objs, '{')
		for c, v := range raw {
			if v == nil {
				continue
			}
			if len(objs) > start+1 {
				objs = append(objs, ',')
			}
			objs = append(objs, keys[c]...)
			if objs, err = appendValue(objs, fds[c], v); err != nil {
				return nil, fmt.Errorf("kv get: %w", err)
			}
		}
		objs = append(objs, '}')
		at[string(raw[0])] = [2]int{start, len(objs)}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("kv get: %w", err)
	}
	b := make([]byte, 0, len(objs)+5*len(ids)+16)
	b = append(b, `{"records":[`...)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		if r, ok := at[id]; ok {
			b = append(b, objs[r[0]:r[1]]...)
		} else {
			b = append(b, "null"...)
		}
	}
	return append(b, "]}\n"...), nil
}

// columnKeys are the columns' `"name":` prefixes. Names repeat (both
// EXTRACT(EPOCH ...) columns are "extract"): a repeat gets its position.
func columnKeys(fds []pgconn.FieldDescription) [][]byte {
	keys := make([][]byte, len(fds))
	seen := make(map[string]bool, len(fds))
	for i, fd := range fds {
		name := fd.Name
		if seen[name] {
			name += "_" + strconv.Itoa(i)
		}
		seen[name] = true
		keys[i] = append(adapters.AppendJSONString(nil, name), ':')
	}
	return keys
}

// appendValue appends a column's raw value as JSON: integers as numbers,
// text as a string. pgx reads integers in binary; text is the same bytes in
// either format. The KV select list has no other types.
func appendValue(b []byte, fd pgconn.FieldDescription, v []byte) ([]byte, error) {
	switch fd.DataTypeOID {
	case pgtype.Int8OID, pgtype.Int4OID, pgtype.Int2OID:
		if fd.Format == pgtype.TextFormatCode {
			return append(b, v...), nil
		}
		switch len(v) {
		case 8:
			return strconv.AppendInt(b, int64(binary.BigEndian.Uint64(v)), 10), nil
		case 4:
			return strconv.AppendInt(b, int64(int32(binary.BigEndian.Uint32(v))), 10), nil
		case 2:
			return strconv.AppendInt(b, int64(int16(binary.BigEndian.Uint16(v))), 10), nil
		}
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.BPCharOID, pgtype.NameOID:
		return adapters.AppendJSONBytes(b, v), nil
	}
	return b, fmt.Errorf("column %s: type OID %d, format %d, %d bytes: neither text nor an integer", fd.Name, fd.DataTypeOID, fd.Format, len(v))
}

// nodesEdges answers {"edges": [...]}: per requested id in order, whether
// the node exists and its edges, grouped by the adapter's own
// postgres.ScanNodesEdges and written as the proxy writes them.
func (s *referenceServer) nodesEdges(ctx context.Context, ids []string) ([]byte, error) {
	var nes []adapters.NodeEdges
	if len(ids) > 0 {
		rows, err := s.pool.Query(ctx, postgres.NodesEdgesSQL, benchWorkspace, nsGraph, ids)
		if err != nil {
			return nil, fmt.Errorf("nodes edges: %w", err)
		}
		if nes, err = postgres.ScanNodesEdges(rows, ids); err != nil {
			return nil, fmt.Errorf("nodes edges: %w", err)
		}
	}
	return adapters.AppendNodesEdges(make([]byte, 0, 4096), nes), nil
}
