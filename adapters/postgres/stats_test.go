package postgres

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

func TestStatsFromBackendAndDSN(t *testing.T) {
	dsn := MustDSN(t)
	b := MustOpen(t)
	ctx := context.Background()
	ws := randomName("stats")
	kv, err := b.KV(ctx, adapters.Namespace{Workspace: ws, Name: "full_docs"})
	require.NoError(t, err)
	require.NoError(t, kv.Upsert(ctx, []adapters.KVRecord{{ID: "d1", Data: []byte(`{"content":"x"}`)}}))
	t.Cleanup(func() { cleanupWorkspace(t, b, ws) })
	// Row counts are estimates; ANALYZE makes the planner's one current.
	_, err = b.pool.Exec(ctx, "ANALYZE lightrag_doc_full")
	require.NoError(t, err)

	for name, get := range map[string]func() (Stats, error){
		"backend": func() (Stats, error) { return b.Stats(ctx) },
		"dsn":     func() (Stats, error) { return InspectDSN(ctx, dsn, 5*time.Second) },
	} {
		t.Run(name, func(t *testing.T) {
			st, err := get()
			require.NoError(t, err)
			require.NotEmpty(t, st.ServerVersion)
			require.NotEmpty(t, st.PgvectorVersion, "pgvector is installed by the schema")
			require.Positive(t, st.DatabaseBytes)
			require.Positive(t, st.LatencyMS)
			var found bool
			for _, tb := range st.Tables {
				require.True(t, strings.HasPrefix(tb.Name, "lightrag_") || strings.HasPrefix(tb.Name, "hybridrag_"), tb.Name)
				if tb.Name == "lightrag_doc_full" {
					found = true
					require.Positive(t, tb.Bytes)
					require.GreaterOrEqual(t, tb.RowsEstimate, int64(1))
				}
			}
			require.True(t, found, "lightrag_doc_full listed: %+v", st.Tables)
		})
	}
}

func TestInspectDSNUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // a closed port: connection refused
	start := time.Now()
	_, err = InspectDSN(context.Background(), "postgres://u:s3cret-pw@"+addr+"/db?sslmode=disable", 2*time.Second)
	require.Error(t, err)
	require.Less(t, time.Since(start), 3*time.Second)
	require.ErrorIs(t, err, adapters.ErrUnavailable)
	require.NotContains(t, err.Error(), "s3cret-pw")

	_, err = InspectDSN(context.Background(), "postgres://u:s3cret-pw@127.0.0.1:notaport/db", time.Second)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cret-pw")
}
