package proxy

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

// The hand-written response writers give writeJSON's bytes.
func TestWritersMatchWriteJSON(t *testing.T) {
	e := echo.New()
	body := func(write func(c echo.Context) error) string {
		rec := httptest.NewRecorder()
		require.NoError(t, write(e.NewContext(httptest.NewRequest(http.MethodPost, "/", nil), rec)))
		require.Equal(t, http.StatusOK, rec.Code)
		require.Equal(t, echo.MIMEApplicationJSON, rec.Header().Get(echo.HeaderContentType))
		return rec.Body.String()
	}
	odd := "a\"b\\c\b\f\n\r\t\x01<&>\u2028\u2029é😀\xff"
	recs := []adapters.Record{adapters.Record(`{"a": [1, 2], "b" : "x y\n", "c":{"d" :null}}`), nil,
		adapters.Record(`{"s":"` + "\\\" \\\\ \\u2028" + `"}`), adapters.Record(`{}`)}
	require.Equal(t, body(func(c echo.Context) error { return writeJSON(c, http.StatusOK, recordsBody{Records: recs}) }),
		body(func(c echo.Context) error { return writeRecords(c, recs) }))
	require.Equal(t, body(func(c echo.Context) error {
		return writeJSON(c, http.StatusOK, recordsBody{Records: []adapters.Record{}})
	}),
		body(func(c echo.Context) error { return writeRecords(c, []adapters.Record{}) }))

	ne := []adapters.NodeEdges{{Found: true, Edges: []adapters.Edge{{Src: odd, Tgt: "b"}, {Src: odd, Tgt: odd}}}, {Found: false},
		{Found: true, Edges: []adapters.Edge{}}}
	want := body(func(c echo.Context) error {
		fixed := append([]adapters.NodeEdges(nil), ne...)
		fixed[1].Edges = []adapters.Edge{}
		return writeJSON(c, http.StatusOK, struct {
			Edges []adapters.NodeEdges `json:"edges"`
		}{fixed})
	})
	require.Equal(t, want, body(func(c echo.Context) error { return writeNodesEdges(c, ne) }))
}
