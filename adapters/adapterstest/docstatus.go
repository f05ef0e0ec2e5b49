package adapterstest

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/hybridrag/storage-proxy/adapters"
)

// docFixture is 25 documents: created_at rises with i, updated_at falls,
// file paths are a permutation, statuses cycle processed/failed/pending and
// track ids alternate.
type docFixture struct {
	ids     []string
	records map[string]adapters.Record
	fields  map[string]obj
}

func newDocFixture(t *testing.T) docFixture {
	t.Helper()
	f := docFixture{records: map[string]adapters.Record{}, fields: map[string]obj{}}
	base := time.Date(2026, 1, 15, 8, 0, 0, 0, time.UTC)
	statuses := []string{"processed", "failed", "pending"}
	for i := range 25 {
		id := fmt.Sprintf("doc-%02d", i)
		o := obj{
			"status":          statuses[i%3],
			"content_summary": "summary " + id,
			"content_length":  100 + i,
			"created_at":      base.Add(time.Duration(i) * time.Minute).Format("2006-01-02T15:04:05.000000+00:00"),
			"updated_at":      base.Add(time.Duration(100-i) * time.Minute).Format("2006-01-02T15:04:05.000000+00:00"),
			"file_path":       fmt.Sprintf("path-%02d.txt", (i*7)%25),
			"track_id":        []string{"track-a", "track-b"}[i%2],
			"chunks_count":    i,
			"chunks_list":     []string{"chunk-" + id},
			"metadata":        obj{"processing_start_time": 1700000000 + i},
		}
		f.ids = append(f.ids, id)
		f.fields[id] = o
		f.records[id] = raw(t, o)
	}
	return f
}

func (f docFixture) seed(t *testing.T, d adapters.DocStatus) {
	t.Helper()
	var recs []adapters.KVRecord
	for _, id := range f.ids {
		recs = append(recs, adapters.KVRecord{ID: id, Data: f.records[id]})
	}
	require.NoError(t, d.Upsert(ctx(t), recs))
}

// requireNormalized checks answers are the stored records normalised.
func requireNormalized(t *testing.T, stored map[string]adapters.Record, got []adapters.KVRecord) {
	t.Helper()
	for _, r := range got {
		want, ok := stored[r.ID]
		require.True(t, ok, "unexpected doc %q", r.ID)
		requireJSONEq(t, adapters.NormalizeDoc(want), r.Data, "normalised doc %s", r.ID)
	}
}

func testDocStatus(t *testing.T, s *suite) {
	t.Run("StoredAsGiven", func(t *testing.T) {
		d := s.docs(t, ns("doc_status"))
		f := newDocFixture(t)
		f.seed(t, d)
		bare := raw(t, obj{"status": "pending", "content_summary": "x", "extra": obj{"kept": true}})
		require.NoError(t, d.Upsert(ctx(t), []adapters.KVRecord{{ID: "bare", Data: bare}}))
		got, err := d.GetByIDs(ctx(t), []string{"doc-03", "missing", "bare"})
		require.NoError(t, err)
		require.Len(t, got, 3)
		requireJSONEq(t, f.records["doc-03"], got[0], "stored exactly as given: no _id, no create_time")
		require.Nil(t, got[1])
		requireJSONEq(t, []byte(`{"status":"pending","content_summary":"x","extra":{"kept":true},"chunks_list":[]}`), got[2],
			"chunks_list defaults to []; unknown fields are kept in storage")

		// Upsert replaces the whole record.
		require.NoError(t, d.Upsert(ctx(t), kvRecords(t, "doc-03", obj{"status": "processing"})))
		got, err = d.GetByIDs(ctx(t), []string{"doc-03"})
		require.NoError(t, err)
		requireJSONEq(t, []byte(`{"status":"processing","chunks_list":[]}`), got[0])

		missing, err := d.FilterKeys(ctx(t), []string{"doc-99", "doc-01", "bare", "new"})
		require.NoError(t, err)
		require.Equal(t, []string{"doc-99", "new"}, missing)
		n, err := d.Count(ctx(t))
		require.NoError(t, err)
		require.EqualValues(t, 26, n)
		require.NoError(t, d.Delete(ctx(t), []string{"bare", "never"}))
		n, err = d.Count(ctx(t))
		require.NoError(t, err)
		require.EqualValues(t, 25, n)

		page, err := d.Scan(ctx(t), "doc-21", 10)
		require.NoError(t, err)
		require.Equal(t, []string{"doc-22", "doc-23", "doc-24"}, ids(page, kvID))
		requireJSONEq(t, f.records["doc-22"], page[0].Data, "scan answers the stored record")
	})

	t.Run("StatusCounts", func(t *testing.T) {
		d := s.docs(t, ns("doc_status"))
		counts, err := d.StatusCounts(ctx(t))
		require.NoError(t, err)
		require.Equal(t, map[string]int64{"pending": 0, "processing": 0, "preprocessed": 0, "processed": 0, "failed": 0}, counts,
			"every status, 0 when none")
		newDocFixture(t).seed(t, d)
		require.NoError(t, d.Upsert(ctx(t), kvRecords(t, "odd", obj{"status": "archived"})))
		counts, err = d.StatusCounts(ctx(t))
		require.NoError(t, err)
		require.Equal(t, map[string]int64{"pending": 8, "processing": 0, "preprocessed": 0, "processed": 9, "failed": 8, "archived": 1}, counts)
	})

	t.Run("DocsByStatuses", func(t *testing.T) {
		d := s.docs(t, ns("doc_status"))
		f := newDocFixture(t)
		f.seed(t, d)
		got, err := d.DocsByStatuses(ctx(t), []string{"failed", "pending"})
		require.NoError(t, err)
		var want []string
		for i, id := range f.ids {
			if i%3 != 0 {
				want = append(want, id)
			}
		}
		require.Equal(t, want, ids(got, kvID), "the fixture is stored in id order")
		requireNormalized(t, f.records, got)
		got, err = d.DocsByStatuses(ctx(t), []string{"processing"})
		require.NoError(t, err)
		require.Empty(t, got)
	})

	t.Run("ListOrder", func(t *testing.T) {
		// LightRAG processes a batch in the order get_docs_by_status
		// lists it: its JSON storage's dict order (first insertion; an
		// update keeps the place, a delete and re-insert goes last).
		d := s.docs(t, ns("doc_status"))
		up := func(ids ...string) {
			for _, id := range ids {
				require.NoError(t, d.Upsert(ctx(t), kvRecords(t, id, obj{"status": "pending", "track_id": "t"})))
			}
		}
		up("doc-b", "doc-a", "doc-c", "doc-b")
		require.NoError(t, d.Delete(ctx(t), []string{"doc-a"}))
		up("doc-a")
		want := []string{"doc-a", "doc-b", "doc-c"}
		if s.b.Capabilities().InsertionOrder {
			want = []string{"doc-b", "doc-c", "doc-a"}
		}
		got, err := d.DocsByStatuses(ctx(t), []string{"pending"})
		require.NoError(t, err)
		require.Equal(t, want, ids(got, kvID))
		got, err = d.DocsByTrackID(ctx(t), "t")
		require.NoError(t, err)
		require.Equal(t, want, ids(got, kvID))
	})

	t.Run("DocsByTrackID", func(t *testing.T) {
		d := s.docs(t, ns("doc_status"))
		f := newDocFixture(t)
		f.seed(t, d)
		got, err := d.DocsByTrackID(ctx(t), "track-b")
		require.NoError(t, err)
		var want []string
		for i, id := range f.ids {
			if i%2 == 1 {
				want = append(want, id)
			}
		}
		require.ElementsMatch(t, want, ids(got, kvID))
		requireNormalized(t, f.records, got)
		got, err = d.DocsByTrackID(ctx(t), "no-such-track")
		require.NoError(t, err)
		require.Empty(t, got)
	})

	t.Run("DocByFilePath", func(t *testing.T) {
		d := s.docs(t, ns("doc_status"))
		f := newDocFixture(t)
		f.seed(t, d)
		got, err := d.DocByFilePath(ctx(t), "path-07.txt") // (i*7)%25 == 7 for i == 1
		require.NoError(t, err)
		require.NotNil(t, got)
		require.Equal(t, "doc-01", got.ID)
		requireJSONEq(t, f.records["doc-01"], got.Data, "the stored record, as get_by_id answers it")
		got, err = d.DocByFilePath(ctx(t), "nowhere.txt")
		require.NoError(t, err)
		require.Nil(t, got)
	})

	t.Run("LegacyRecords", func(t *testing.T) {
		d := s.docs(t, ns("doc_status"))
		legacy := raw(t, obj{"status": "failed", "content": "old full text", "content_summary": "old",
			"content_length": 13, "created_at": "2025-01-01T00:00:00+00:00", "updated_at": "2025-01-01T00:00:00+00:00",
			"error": "LLM timeout", "file_path": ""})
		require.NoError(t, d.Upsert(ctx(t), []adapters.KVRecord{{ID: "doc-legacy", Data: legacy}}))
		got, err := d.GetByIDs(ctx(t), []string{"doc-legacy"})
		require.NoError(t, err)
		m := object(t, got[0])
		require.Equal(t, "LLM timeout", m["error"], "the stored record is not changed")
		require.Contains(t, m, "content")

		for name, answer := range map[string]func() ([]adapters.KVRecord, error){
			"by statuses": func() ([]adapters.KVRecord, error) { return d.DocsByStatuses(ctx(t), []string{"failed"}) },
			"paginated": func() ([]adapters.KVRecord, error) {
				p, err := d.DocsPaginated(ctx(t), adapters.DocPageRequest{})
				return p.Docs, err
			},
		} {
			docs, err := answer()
			require.NoError(t, err, name)
			require.Len(t, docs, 1, name)
			m := object(t, docs[0].Data)
			require.Equal(t, "LLM timeout", m["error_msg"], "%s: legacy error served as error_msg", name)
			require.NotContains(t, m, "error", name)
			require.NotContains(t, m, "content", "%s: keys DocProcessingStatus does not take are left out", name)
			require.Equal(t, "no-file-path", m["file_path"], "%s: falsy file_path", name)
			require.Equal(t, obj{}, m["metadata"], name)
			require.Equal(t, []any{}, m["chunks_list"], name)
		}
	})

	t.Run("Paginated", func(t *testing.T) {
		d := s.docs(t, ns("doc_status"))
		f := newDocFixture(t)
		f.seed(t, d)
		sorted := func(field, dir string) []string {
			out := slices.Clone(f.ids)
			slices.SortStableFunc(out, func(a, b string) int {
				var c int
				if field == "id" {
					c = cmp.Compare(a, b)
				} else {
					c = cmp.Compare(f.fields[a][field].(string), f.fields[b][field].(string))
				}
				if dir == "desc" {
					c = -c
				}
				return c
			})
			return out
		}
		for _, field := range []string{"created_at", "updated_at", "id", "file_path"} {
			for _, dir := range []string{"asc", "desc"} {
				t.Run(field+" "+dir, func(t *testing.T) {
					want := sorted(field, dir)
					var got []string
					for page := 1; page <= 3; page++ {
						p, err := d.DocsPaginated(ctx(t), adapters.DocPageRequest{Page: page, PageSize: 10, SortField: field, SortDirection: dir})
						require.NoError(t, err)
						require.EqualValues(t, 25, p.Total)
						requireNormalized(t, f.records, p.Docs)
						got = append(got, ids(p.Docs, kvID)...)
					}
					require.Equal(t, want, got)
				})
			}
		}

		t.Run("defaults", func(t *testing.T) {
			p, err := d.DocsPaginated(ctx(t), adapters.DocPageRequest{})
			require.NoError(t, err)
			require.EqualValues(t, 25, p.Total)
			require.Equal(t, sorted("updated_at", "desc"), ids(p.Docs, kvID), "page 1, 50 per page, updated_at desc")
		})

		t.Run("page size clamps", func(t *testing.T) {
			p, err := d.DocsPaginated(ctx(t), adapters.DocPageRequest{Page: 1, PageSize: 1, SortField: "id", SortDirection: "asc"})
			require.NoError(t, err)
			require.Len(t, p.Docs, 10, "page_size below 10 is raised to 10")
			p, err = d.DocsPaginated(ctx(t), adapters.DocPageRequest{Page: 3, PageSize: 3, SortField: "id", SortDirection: "asc"})
			require.NoError(t, err)
			require.Equal(t, f.ids[20:], ids(p.Docs, kvID))
			p, err = d.DocsPaginated(ctx(t), adapters.DocPageRequest{Page: 1, PageSize: 5000, SortField: "id", SortDirection: "asc"})
			require.NoError(t, err)
			require.Len(t, p.Docs, 25)
			p, err = d.DocsPaginated(ctx(t), adapters.DocPageRequest{Page: 4, PageSize: 10, SortField: "id", SortDirection: "asc"})
			require.NoError(t, err)
			require.Empty(t, p.Docs, "a page past the end is empty")
			require.EqualValues(t, 25, p.Total)
		})

		t.Run("status filter", func(t *testing.T) {
			p, err := d.DocsPaginated(ctx(t), adapters.DocPageRequest{StatusFilter: "failed", Page: 1, PageSize: 10, SortField: "id", SortDirection: "asc"})
			require.NoError(t, err)
			require.EqualValues(t, 8, p.Total)
			var want []string
			for i, id := range f.ids {
				if i%3 == 1 {
					want = append(want, id)
				}
			}
			require.Equal(t, want, ids(p.Docs, kvID))
			p, err = d.DocsPaginated(ctx(t), adapters.DocPageRequest{StatusFilter: "processing"})
			require.NoError(t, err)
			require.Zero(t, p.Total)
			require.Empty(t, p.Docs)
		})

		t.Run("invalid", func(t *testing.T) {
			for _, req := range []adapters.DocPageRequest{
				{SortField: "content_length"},
				{SortField: "id; DROP TABLE x"},
				{SortDirection: "sideways"},
				{StatusFilter: "done"},
			} {
				_, err := d.DocsPaginated(ctx(t), req)
				require.ErrorIs(t, err, adapters.ErrInvalid, "request %+v", req)
			}
		})
	})

	t.Run("Drop", func(t *testing.T) {
		d := s.docs(t, ns("doc_status"))
		newDocFixture(t).seed(t, d)
		require.NoError(t, d.Drop(ctx(t)))
		n, err := d.Count(ctx(t))
		require.NoError(t, err)
		require.Zero(t, n)
		counts, err := d.StatusCounts(ctx(t))
		require.NoError(t, err)
		require.Zero(t, counts["processed"])
	})
}
