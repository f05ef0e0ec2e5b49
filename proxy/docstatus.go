package proxy

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/hybridrag/storage-proxy/adapters"
)

func (s *Server) docInfo(c echo.Context) error       { return s.storeInfo(c, openDocs) }
func (s *Server) docDrop(c echo.Context) error       { return s.storeDrop(c, openDocs) }
func (s *Server) docGet(c echo.Context) error        { return s.storeGet(c, openDocs) }
func (s *Server) docFilterKeys(c echo.Context) error { return s.storeFilterKeys(c, openDocs) }
func (s *Server) docUpsert(c echo.Context) error     { return s.storeUpsert(c, openDocs) }
func (s *Server) docDelete(c echo.Context) error     { return s.storeDelete(c, openDocs) }
func (s *Server) docRecords(c echo.Context) error    { return s.storeRecords(c, openDocs) }

// withDocs runs fn on the request's doc-status namespace.
func (s *Server) withDocs(c echo.Context, fn func(ctx context.Context, d adapters.DocStatus) error) error {
	h, ns, err := s.namespaceOf(c)
	if err != nil {
		return err
	}
	defer s.router.release(h)
	ctx := ctxOf(c)
	d, err := h.backend.DocStatus(ctx, ns)
	if err != nil {
		return err
	}
	return s.backendCall(ctx, h, ns, func(ctx context.Context) error { return fn(ctx, d) })
}

type countsBody struct {
	Counts map[string]int64 `json:"counts"`
}

type docsBody struct {
	Docs []adapters.KVRecord `json:"docs"`
}

type docPageBody struct {
	Docs     []adapters.KVRecord `json:"docs"`
	Total    int64               `json:"total"`
	Page     int                 `json:"page"`
	PageSize int                 `json:"page_size"`
}

type docBody struct {
	Doc *adapters.KVRecord `json:"doc"`
}

// docCounts is get_all_status_counts: every status plus "all".
func (s *Server) docCounts(c echo.Context) error {
	return s.withDocs(c, func(ctx context.Context, d adapters.DocStatus) error {
		counts, err := d.StatusCounts(ctx)
		if err != nil {
			return err
		}
		out := make(map[string]int64, len(counts)+1)
		var all int64
		for k, v := range counts {
			out[k] = v
			all += v
		}
		out["all"] = all
		return writeJSON(c, http.StatusOK, countsBody{Counts: out})
	})
}

func (s *Server) docByStatuses(c echo.Context) error {
	var req statusesRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	return s.withDocs(c, func(ctx context.Context, d adapters.DocStatus) error {
		docs, err := d.DocsByStatuses(ctx, req.Statuses)
		if err != nil {
			return err
		}
		return writeDocs(c, docs)
	})
}

func (s *Server) docByTrackID(c echo.Context) error {
	var req trackIDRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	return s.withDocs(c, func(ctx context.Context, d adapters.DocStatus) error {
		docs, err := d.DocsByTrackID(ctx, *req.TrackID)
		if err != nil {
			return err
		}
		return writeDocs(c, docs)
	})
}

func writeDocs(c echo.Context, docs []adapters.KVRecord) error {
	if docs == nil {
		docs = []adapters.KVRecord{}
	}
	return writeJSON(c, http.StatusOK, docsBody{Docs: docs})
}

func (s *Server) docPaginated(c echo.Context) error {
	var req adapters.DocPageRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	norm, err := req.Normalize()
	if err != nil {
		return err
	}
	return s.withDocs(c, func(ctx context.Context, d adapters.DocStatus) error {
		page, err := d.DocsPaginated(ctx, norm)
		if err != nil {
			return err
		}
		if page.Docs == nil {
			page.Docs = []adapters.KVRecord{}
		}
		return writeJSON(c, http.StatusOK, docPageBody{Docs: page.Docs, Total: page.Total,
			Page: norm.Page, PageSize: norm.PageSize})
	})
}

func (s *Server) docByFilePath(c echo.Context) error {
	var req filePathRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	return s.withDocs(c, func(ctx context.Context, d adapters.DocStatus) error {
		doc, err := d.DocByFilePath(ctx, *req.FilePath)
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, docBody{Doc: doc})
	})
}
