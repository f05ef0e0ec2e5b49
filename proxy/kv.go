package proxy

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/hybridrag/storage-proxy/adapters"
)

// recordStore is what KV and doc-status namespaces share, so one set of
// handlers serves both route families.
type recordStore interface {
	GetByIDs(ctx context.Context, ids []string) ([]adapters.Record, error)
	FilterKeys(ctx context.Context, keys []string) ([]string, error)
	Upsert(ctx context.Context, records []adapters.KVRecord) error
	Delete(ctx context.Context, ids []string) error
	Count(ctx context.Context) (int64, error)
	Scan(ctx context.Context, after string, limit int) ([]adapters.KVRecord, error)
	Drop(ctx context.Context) error
}

type storeOpener func(ctx context.Context, b adapters.Backend, ns adapters.Namespace) (recordStore, error)

func openKV(ctx context.Context, b adapters.Backend, ns adapters.Namespace) (recordStore, error) {
	return b.KV(ctx, ns)
}

func openDocs(ctx context.Context, b adapters.Backend, ns adapters.Namespace) (recordStore, error) {
	return b.DocStatus(ctx, ns)
}

// withStore runs fn on the request's namespace store.
func (s *Server) withStore(c echo.Context, open storeOpener, fn func(ctx context.Context, st recordStore) error) error {
	h, ns, err := s.namespaceOf(c)
	if err != nil {
		return err
	}
	defer s.router.release(h)
	ctx := ctxOf(c)
	st, err := open(ctx, h.backend, ns)
	if err != nil {
		return err
	}
	return s.backendCall(ctx, h, ns, func(ctx context.Context) error { return fn(ctx, st) })
}

type infoBody struct {
	Count   int64 `json:"count"`
	IsEmpty bool  `json:"is_empty"`
}

type recordsBody struct {
	Records []adapters.Record `json:"records"`
}

type missingBody struct {
	Missing []string `json:"missing"`
}

type pageBody struct {
	Records []adapters.KVRecord `json:"records"`
	// Next is the cursor for the next page (null when this page is the last).
	Next *string `json:"next"`
}

func (s *Server) storeInfo(c echo.Context, open storeOpener) error {
	return s.withStore(c, open, func(ctx context.Context, st recordStore) error {
		n, err := st.Count(ctx)
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, infoBody{Count: n, IsEmpty: n == 0})
	})
}

func (s *Server) storeDrop(c echo.Context, open storeOpener) error {
	return s.withStore(c, open, func(ctx context.Context, st recordStore) error {
		if err := st.Drop(ctx); err != nil {
			return err
		}
		return dropped(c)
	})
}

func (s *Server) storeGet(c echo.Context, open storeOpener) error {
	var req idsRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	return s.withStore(c, open, func(ctx context.Context, st recordStore) error {
		recs, err := st.GetByIDs(ctx, req.IDs)
		if err != nil {
			return err
		}
		if recs == nil {
			recs = []adapters.Record{}
		}
		s.recordRead(c, len(recs))
		return writeRecords(c, recs)
	})
}

func (s *Server) storeFilterKeys(c echo.Context, open storeOpener) error {
	var req keysRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	return s.withStore(c, open, func(ctx context.Context, st recordStore) error {
		miss, err := st.FilterKeys(ctx, req.Keys)
		if err != nil {
			return err
		}
		if miss == nil {
			miss = []string{}
		}
		return writeJSON(c, http.StatusOK, missingBody{Missing: miss})
	})
}

func (s *Server) storeUpsert(c echo.Context, open storeOpener) error {
	var req recordsUpsertRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	return s.withStore(c, open, func(ctx context.Context, st recordStore) error {
		if err := st.Upsert(ctx, req.Records); err != nil {
			return err
		}
		s.recordWrite(c, len(req.Records))
		return ok(c)
	})
}

func (s *Server) storeDelete(c echo.Context, open storeOpener) error {
	var req idsRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	return s.withStore(c, open, func(ctx context.Context, st recordStore) error {
		if err := st.Delete(ctx, req.IDs); err != nil {
			return err
		}
		return ok(c)
	})
}

func (s *Server) storeRecords(c echo.Context, open storeOpener) error {
	limit, err := pageLimit(c)
	if err != nil {
		return err
	}
	after := c.QueryParam("after")
	return s.withStore(c, open, func(ctx context.Context, st recordStore) error {
		recs, err := st.Scan(ctx, after, limit)
		if err != nil {
			return err
		}
		body := pageBody{Records: recs}
		if body.Records == nil {
			body.Records = []adapters.KVRecord{}
		}
		if len(recs) == limit {
			body.Next = &recs[len(recs)-1].ID
		}
		return writeJSON(c, http.StatusOK, body)
	})
}

func (s *Server) kvInfo(c echo.Context) error       { return s.storeInfo(c, openKV) }
func (s *Server) kvDrop(c echo.Context) error       { return s.storeDrop(c, openKV) }
func (s *Server) kvGet(c echo.Context) error        { return s.storeGet(c, openKV) }
func (s *Server) kvFilterKeys(c echo.Context) error { return s.storeFilterKeys(c, openKV) }
func (s *Server) kvUpsert(c echo.Context) error     { return s.storeUpsert(c, openKV) }
func (s *Server) kvDelete(c echo.Context) error     { return s.storeDelete(c, openKV) }
func (s *Server) kvRecords(c echo.Context) error    { return s.storeRecords(c, openKV) }
