package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Request bodies. Each validate method reports a missing required field the
// same way openapi.yaml's "required" does, so spec and server agree.

type idsRequest struct {
	IDs []string `json:"ids"`
}

func (r *idsRequest) validate() error {
	if r.IDs == nil {
		return missing("ids")
	}
	return nil
}

type keysRequest struct {
	Keys []string `json:"keys"`
}

func (r *keysRequest) validate() error {
	if r.Keys == nil {
		return missing("keys")
	}
	return nil
}

type recordsUpsertRequest struct {
	Records orderedRecords `json:"records"`
}

func (r *recordsUpsertRequest) validate() error {
	if r.Records == nil {
		return missing("records")
	}
	return nil
}

// orderedRecords decodes {"id": {...}, ...} keeping the order of the ids, so
// new records are stored in the order the caller sent them.
type orderedRecords []adapters.KVRecord

func (o *orderedRecords) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return &fieldError{field: "records", msg: "must be an object mapping ids to records"}
	}
	out := orderedRecords{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return err
		}
		id := kt.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return err
		}
		if len(raw) == 0 || raw[0] != '{' {
			return &fieldError{field: "records." + id, msg: "must be a JSON object (the record)"}
		}
		out = append(out, adapters.KVRecord{ID: id, Data: raw})
	}
	*o = out
	return nil
}

type edgesRequest struct {
	Pairs []pairIn `json:"pairs"`
}

// pairIn has pointers so a pair missing src or tgt is an error, not "".
type pairIn struct {
	Src *string `json:"src"`
	Tgt *string `json:"tgt"`
}

func (r *edgesRequest) validate() error {
	if r.Pairs == nil {
		return missing("pairs")
	}
	for i, p := range r.Pairs {
		if p.Src == nil || p.Tgt == nil {
			return missing(fmt.Sprintf("pairs[%d].src and .tgt", i))
		}
	}
	return nil
}

func (r *edgesRequest) edges() []adapters.Edge {
	out := make([]adapters.Edge, len(r.Pairs))
	for i, p := range r.Pairs {
		out[i] = adapters.Edge{Src: *p.Src, Tgt: *p.Tgt}
	}
	return out
}

type nodesUpsertRequest struct {
	Nodes []nodeIn `json:"nodes"`
}

type nodeIn struct {
	ID    *string        `json:"id"`
	Props adapters.Props `json:"properties"`
}

// exactText: graph ids are keys, so a lone surrogate the JSON decoder would
// turn into U+FFFD would merge distinct ids.
func (*nodesUpsertRequest) exactText() {}

func (r *nodesUpsertRequest) validate() error {
	if r.Nodes == nil {
		return missing("nodes")
	}
	for i, n := range r.Nodes {
		if n.ID == nil {
			return missing(fmt.Sprintf("nodes[%d].id", i))
		}
	}
	return nil
}

type edgesUpsertRequest struct {
	Edges []edgeIn `json:"edges"`
}

type edgeIn struct {
	Src   *string        `json:"src"`
	Tgt   *string        `json:"tgt"`
	Props adapters.Props `json:"properties"`
}

func (*edgesUpsertRequest) exactText() {}

func (r *edgesUpsertRequest) validate() error {
	if r.Edges == nil {
		return missing("edges")
	}
	for i, e := range r.Edges {
		if e.Src == nil || e.Tgt == nil {
			return missing(fmt.Sprintf("edges[%d].src and .tgt", i))
		}
	}
	return nil
}

type chunkIDsRequest struct {
	ChunkIDs []string `json:"chunk_ids"`
}

func (r *chunkIDsRequest) validate() error {
	if r.ChunkIDs == nil {
		return missing("chunk_ids")
	}
	return nil
}

type knowledgeGraphRequest struct {
	Label    *string `json:"label"`
	MaxDepth *int    `json:"max_depth"`
	MaxNodes *int    `json:"max_nodes"`
}

func (r *knowledgeGraphRequest) validate() error {
	if r.Label == nil {
		return missing("label")
	}
	if r.MaxDepth != nil && *r.MaxDepth < 0 {
		return &fieldError{field: "max_depth", msg: "must be >= 0"}
	}
	if r.MaxNodes != nil && *r.MaxNodes < 0 {
		return &fieldError{field: "max_nodes", msg: "must be >= 0"}
	}
	if r.MaxNodes != nil && *r.MaxNodes > MaxGraphNodes {
		return overLimit(fmt.Sprintf(`field "max_nodes" is %d`, *r.MaxNodes), MaxGraphNodes,
			fmt.Sprintf("ask for at most %d nodes (LightRAG's default is 1000)", MaxGraphNodes))
	}
	return nil
}

type entityRequest struct {
	EntityName *string `json:"entity_name"`
}

func (r *entityRequest) validate() error {
	if r.EntityName == nil {
		return missing("entity_name")
	}
	return nil
}

type statusesRequest struct {
	Statuses []string `json:"statuses"`
}

func (r *statusesRequest) validate() error {
	if r.Statuses == nil {
		return missing("statuses")
	}
	return nil
}

type trackIDRequest struct {
	TrackID *string `json:"track_id"`
}

func (r *trackIDRequest) validate() error {
	if r.TrackID == nil {
		return missing("track_id")
	}
	return nil
}

type filePathRequest struct {
	FilePath *string `json:"file_path"`
}

func (r *filePathRequest) validate() error {
	if r.FilePath == nil {
		return missing("file_path")
	}
	return nil
}

type databaseRequest struct {
	Backend   string `json:"backend"`
	Path      string `json:"path"`
	Workspace string `json:"workspace"`
}

func (r *databaseRequest) validate() error {
	if r.Path == "" {
		return missing("path")
	}
	return nil
}

// check is a helper for validate methods with several conditions.
func check(cond bool, field, format string, args ...any) error {
	if cond {
		return nil
	}
	return (&fieldError{field: field, msg: fmt.Sprintf(format, args...)}).apiError()
}
