package json

import (
	"cmp"
	"context"
	"slices"
	"sort"
	"strings"

	"github.com/hybridrag/storage-proxy/adapters"
)

// DocStatus opens a kv_store_<ns>.json namespace as LightRAG's
// JsonDocStatusStorage. Records are stored as given (StampDoc) and answered
// normalised (NormalizeDoc) by the query methods.
func (b *Backend) DocStatus(ctx context.Context, ns adapters.Namespace) (adapters.DocStatus, error) {
	s, err := b.space(ctx, ns, fileKV)
	if err != nil {
		return nil, err
	}
	return &docStatusStore{b: b, s: s}, nil
}

type docStatusStore struct {
	b *Backend
	s *space
}

var _ adapters.DocStatus = (*docStatusStore)(nil)

func storedView(_ string, stored adapters.Record) adapters.Record { return stored }

func (d *docStatusStore) GetByIDs(ctx context.Context, ids []string) ([]adapters.Record, error) {
	out := make([]adapters.Record, len(ids))
	err := d.s.read(ctx, func() error {
		for i, id := range ids {
			if e, ok := d.s.kv.records[id]; ok {
				out[i] = e.data
			}
		}
		return nil
	})
	return out, err
}

func (d *docStatusStore) FilterKeys(ctx context.Context, keys []string) ([]string, error) {
	return d.s.filterKeys(ctx, keys)
}

func (d *docStatusStore) Upsert(ctx context.Context, records []adapters.KVRecord) error {
	return d.s.upsertKV(ctx, d.b, records, func(id string, data, _ adapters.Record) (adapters.Record, error) {
		return adapters.StampDoc(id, data)
	})
}

func (d *docStatusStore) Delete(ctx context.Context, ids []string) error {
	return d.s.deleteKV(ctx, d.b, ids)
}

func (d *docStatusStore) Count(ctx context.Context) (int64, error) { return d.s.count(ctx) }

func (d *docStatusStore) Scan(ctx context.Context, after string, limit int) ([]adapters.KVRecord, error) {
	return d.s.scanKV(ctx, after, limit, storedView)
}

func (d *docStatusStore) Drop(ctx context.Context) error { return d.s.dropKV(ctx, d.b) }

func (d *docStatusStore) StatusCounts(ctx context.Context) (map[string]int64, error) {
	counts := make(map[string]int64, len(adapters.DocStatuses))
	for _, st := range adapters.DocStatuses {
		counts[st] = 0
	}
	err := d.s.read(ctx, func() error {
		for _, e := range d.s.kv.records {
			if st := adapters.DocStatusOf(e.data); st != "" {
				counts[st]++
			}
		}
		return nil
	})
	return counts, err
}

// docsWhere returns the normalised records matching keep in the order they
// were first stored (Python dict order: what JsonDocStatusStorage's
// get_docs_by_status iterates, and so the order LightRAG processes a batch).
func (d *docStatusStore) docsWhere(ctx context.Context, keep func(adapters.Record) bool) ([]adapters.KVRecord, error) {
	type doc struct {
		seq uint64
		rec adapters.KVRecord
	}
	var docs []doc
	err := d.s.read(ctx, func() error {
		for id, e := range d.s.kv.records {
			if keep(e.data) {
				docs = append(docs, doc{e.seq, adapters.KVRecord{ID: id, Data: adapters.NormalizeDoc(e.data)}})
			}
		}
		return nil
	})
	slices.SortFunc(docs, func(a, b doc) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]adapters.KVRecord, len(docs))
	for i, d := range docs {
		out[i] = d.rec
	}
	return out, err
}

func (d *docStatusStore) DocsByStatuses(ctx context.Context, statuses []string) ([]adapters.KVRecord, error) {
	return d.docsWhere(ctx, func(r adapters.Record) bool {
		return slices.Contains(statuses, adapters.DocStatusOf(r))
	})
}

func (d *docStatusStore) DocsByTrackID(ctx context.Context, trackID string) ([]adapters.KVRecord, error) {
	return d.docsWhere(ctx, func(r adapters.Record) bool {
		return adapters.StringField(r, "track_id") == trackID
	})
}

// DocsPaginated filters by status, sorts by the field's string value
// (missing sorts first ascending), breaks ties by id ascending, then pages.
func (d *docStatusStore) DocsPaginated(ctx context.Context, req adapters.DocPageRequest) (adapters.DocPage, error) {
	req, err := req.Normalize()
	if err != nil {
		return adapters.DocPage{}, err
	}
	type row struct {
		id, key string
		rec     adapters.Record
	}
	var rows []row
	err = d.s.read(ctx, func() error {
		for id, e := range d.s.kv.records {
			if req.StatusFilter != "" && adapters.DocStatusOf(e.data) != req.StatusFilter {
				continue
			}
			key := id
			if req.SortField != "id" {
				key = adapters.StringField(e.data, req.SortField)
			}
			rows = append(rows, row{id: id, key: key, rec: e.data})
		}
		return nil
	})
	if err != nil {
		return adapters.DocPage{}, err
	}
	desc := req.SortDirection == "desc"
	sort.Slice(rows, func(i, j int) bool {
		if c := strings.Compare(rows[i].key, rows[j].key); c != 0 {
			return (c < 0) != desc
		}
		return rows[i].id < rows[j].id
	})
	page := adapters.DocPage{Docs: []adapters.KVRecord{}, Total: int64(len(rows))}
	start := (req.Page - 1) * req.PageSize
	for i := start; i < len(rows) && i < start+req.PageSize; i++ {
		page.Docs = append(page.Docs, adapters.KVRecord{ID: rows[i].id, Data: adapters.NormalizeDoc(rows[i].rec)})
	}
	return page, nil
}

// DocByFilePath returns the stored record with that file_path (the lowest
// id if several match), or nil.
func (d *docStatusStore) DocByFilePath(ctx context.Context, path string) (*adapters.KVRecord, error) {
	var found *adapters.KVRecord
	err := d.s.read(ctx, func() error {
		for id, e := range d.s.kv.records {
			if adapters.StringField(e.data, "file_path") != path {
				continue
			}
			if found == nil || id < found.ID {
				found = &adapters.KVRecord{ID: id, Data: e.data}
			}
		}
		return nil
	})
	return found, err
}
