package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/hybridrag/storage-proxy/adapters"
)

// withVector runs fn on the request's vector namespace. dim is the caller's
// dimension (0 = the stored one); the "dim" query parameter overrides it.
func (s *Server) withVector(c echo.Context, dim int, fn func(ctx context.Context, v adapters.Vector) error) error {
	qdim, err := intQuery(c, "dim", 0, 0)
	if err != nil {
		return err
	}
	if qdim > 0 {
		dim = qdim
	}
	h, ns, err := s.namespaceOf(c)
	if err != nil {
		return err
	}
	defer s.router.release(h)
	ctx := ctxOf(c)
	v, err := h.backend.Vector(ctx, ns, dim)
	if err != nil {
		return err
	}
	return s.backendCall(ctx, h, ns, func(ctx context.Context) error { return fn(ctx, v) })
}

func wantArray(c echo.Context, encoding string) (bool, error) {
	if encoding == "" {
		encoding = c.QueryParam("encoding")
	}
	switch encoding {
	case "", "base64":
		return false, nil
	case "array":
		return true, nil
	}
	return false, newAPIError(kindMalformed, "malformed_request", "use base64 or array",
		"encoding %q is not known", encoding)
}

type vectorInfoBody struct {
	Count   int64 `json:"count"`
	IsEmpty bool  `json:"is_empty"`
	Dim     int   `json:"dim"`
}

func (s *Server) vecInfo(c echo.Context) error {
	return s.withVector(c, 0, func(ctx context.Context, v adapters.Vector) error {
		n, err := v.Count(ctx)
		if err != nil {
			return err
		}
		return writeJSON(c, http.StatusOK, vectorInfoBody{Count: n, IsEmpty: n == 0, Dim: v.Dim()})
	})
}

func (s *Server) vecDrop(c echo.Context) error {
	return s.withVector(c, 0, func(ctx context.Context, v adapters.Vector) error {
		if err := v.Drop(ctx); err != nil {
			return err
		}
		return dropped(c)
	})
}

type vectorIn struct {
	ID     *string         `json:"id"`
	Vector wireVector      `json:"vector"`
	Fields json.RawMessage `json:"fields"`
	// CreatedAt is a copied record's own created_at (Unix seconds); absent
	// or 0: now.
	CreatedAt *int64 `json:"created_at"`
}

type vectorUpsertRequest struct {
	Records []vectorIn `json:"records"`
}

func (r *vectorUpsertRequest) validate() error {
	if r.Records == nil {
		return missing("records")
	}
	for i, rec := range r.Records {
		if rec.ID == nil {
			return missing("records[" + strconv.Itoa(i) + "].id")
		}
		if rec.Vector == nil {
			return missing("records[" + strconv.Itoa(i) + "].vector")
		}
		if rec.CreatedAt != nil && *rec.CreatedAt < 0 {
			return check(false, "records["+strconv.Itoa(i)+"].created_at", "must be Unix seconds, not negative")
		}
		if len(rec.Fields) > 0 && rec.Fields[0] != '{' && string(rec.Fields) != "null" {
			return check(false, "records["+strconv.Itoa(i)+"].fields", "must be a JSON object")
		}
	}
	return nil
}

func (s *Server) vecUpsert(c echo.Context) error {
	var req vectorUpsertRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	recs := make([]adapters.VectorRecord, len(req.Records))
	dim := 0
	for i, r := range req.Records {
		fields := r.Fields
		if len(fields) == 0 || string(fields) == "null" {
			fields = json.RawMessage("{}")
		}
		recs[i] = adapters.VectorRecord{ID: *r.ID, Fields: fields, Vector: r.Vector}
		if r.CreatedAt != nil {
			recs[i].CreatedAt = *r.CreatedAt
		}
		if i == 0 {
			dim = len(r.Vector)
		}
	}
	return s.withVector(c, dim, func(ctx context.Context, v adapters.Vector) error {
		if err := v.Upsert(ctx, recs); err != nil {
			return err
		}
		s.recordWrite(c, len(recs))
		return ok(c)
	})
}

type vectorQueryRequest struct {
	Vector    wireVector `json:"vector"`
	TopK      *int       `json:"top_k"`
	Threshold *float32   `json:"threshold"`
}

func (r *vectorQueryRequest) validate() error {
	if r.Vector == nil {
		return missing("vector")
	}
	if r.TopK == nil {
		return missing("top_k")
	}
	if *r.TopK < 0 {
		return check(false, "top_k", "must be >= 0")
	}
	if *r.TopK > MaxTopK {
		return overLimit(fmt.Sprintf(`field "top_k" is %d`, *r.TopK), MaxTopK, fmt.Sprintf("ask for at most %d results", MaxTopK))
	}
	return nil
}

type matchOut struct {
	ID         string          `json:"id"`
	Similarity float32         `json:"similarity"`
	CreatedAt  int64           `json:"created_at"`
	Fields     json.RawMessage `json:"fields"`
}

type matchesBody struct {
	Matches []matchOut `json:"matches"`
}

func (s *Server) vecQuery(c echo.Context) error {
	var req vectorQueryRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	q := adapters.VectorQuery{Vector: req.Vector, TopK: *req.TopK, Threshold: adapters.DefaultCosineThreshold}
	if req.Threshold != nil {
		q.Threshold = *req.Threshold
	}
	return s.withVector(c, len(req.Vector), func(ctx context.Context, v adapters.Vector) error {
		ms, err := v.Query(ctx, q)
		if err != nil {
			return err
		}
		out := make([]matchOut, len(ms))
		for i, m := range ms {
			out[i] = matchOut{ID: m.ID, Similarity: m.Similarity, CreatedAt: m.CreatedAt, Fields: fieldsOrEmpty(m.Fields)}
		}
		return writeJSON(c, http.StatusOK, matchesBody{Matches: out})
	})
}

func fieldsOrEmpty(f json.RawMessage) json.RawMessage {
	if len(f) == 0 {
		return json.RawMessage("{}")
	}
	return f
}

type vectorRecordOut struct {
	ID        string          `json:"id"`
	CreatedAt int64           `json:"created_at"`
	Fields    json.RawMessage `json:"fields"`
	Vector    json.RawMessage `json:"vector,omitempty"`
}

type vectorRecordsBody struct {
	Records []*vectorRecordOut `json:"records"`
}

func (s *Server) vecGet(c echo.Context) error {
	var req idsRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	return s.withVector(c, 0, func(ctx context.Context, v adapters.Vector) error {
		recs, err := v.GetByIDs(ctx, req.IDs)
		if err != nil {
			return err
		}
		out := make([]*vectorRecordOut, len(recs))
		for i, r := range recs {
			if r != nil {
				out[i] = &vectorRecordOut{ID: r.ID, CreatedAt: r.CreatedAt, Fields: fieldsOrEmpty(r.Fields)}
			}
		}
		return writeJSON(c, http.StatusOK, vectorRecordsBody{Records: out})
	})
}

type vectorsRequest struct {
	IDs      []string `json:"ids"`
	Encoding string   `json:"encoding"`
}

func (r *vectorsRequest) validate() error {
	if r.IDs == nil {
		return missing("ids")
	}
	return nil
}

type vectorsBody struct {
	Vectors map[string]json.RawMessage `json:"vectors"`
}

func (s *Server) vecVectors(c echo.Context) error {
	var req vectorsRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	asArray, err := wantArray(c, req.Encoding)
	if err != nil {
		return err
	}
	return s.withVector(c, 0, func(ctx context.Context, v adapters.Vector) error {
		vecs, err := v.GetVectorsByIDs(ctx, req.IDs)
		if err != nil {
			return err
		}
		out := make(map[string]json.RawMessage, len(vecs))
		for id, vec := range vecs {
			out[id] = vectorOut(vec, asArray)
		}
		return writeJSON(c, http.StatusOK, vectorsBody{Vectors: out})
	})
}

func (s *Server) vecDelete(c echo.Context) error {
	var req idsRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	return s.withVector(c, 0, func(ctx context.Context, v adapters.Vector) error {
		if err := v.Delete(ctx, req.IDs); err != nil {
			return err
		}
		return ok(c)
	})
}

func (s *Server) vecDeleteEntity(c echo.Context) error {
	var req entityRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	return s.withVector(c, 0, func(ctx context.Context, v adapters.Vector) error {
		if err := v.DeleteEntity(ctx, *req.EntityName); err != nil {
			return err
		}
		return ok(c)
	})
}

func (s *Server) vecDeleteEntityRelation(c echo.Context) error {
	var req entityRequest
	if err := decodeBody(c, &req); err != nil {
		return err
	}
	return s.withVector(c, 0, func(ctx context.Context, v adapters.Vector) error {
		if err := v.DeleteEntityRelation(ctx, *req.EntityName); err != nil {
			return err
		}
		return ok(c)
	})
}

type vectorPageBody struct {
	Records []*vectorRecordOut `json:"records"`
	Next    *string            `json:"next"`
}

func (s *Server) vecRecords(c echo.Context) error {
	limit, err := pageLimit(c)
	if err != nil {
		return err
	}
	asArray, err := wantArray(c, "")
	if err != nil {
		return err
	}
	after := c.QueryParam("after")
	return s.withVector(c, 0, func(ctx context.Context, v adapters.Vector) error {
		recs, err := v.Scan(ctx, after, limit)
		if err != nil {
			return err
		}
		body := vectorPageBody{Records: make([]*vectorRecordOut, len(recs))}
		for i, r := range recs {
			body.Records[i] = &vectorRecordOut{ID: r.ID, CreatedAt: r.CreatedAt, Fields: fieldsOrEmpty(r.Fields),
				Vector: vectorOut(r.Vector, asArray)}
		}
		if len(recs) == limit {
			body.Next = &recs[len(recs)-1].ID
		}
		return writeJSON(c, http.StatusOK, body)
	})
}
