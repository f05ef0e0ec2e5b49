package adapters

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// GraphFieldSep joins multi-valued strings (source_id, file_path, description).
const GraphFieldSep = "<SEP>"

// TextChunksNamespace is the KV namespace whose records get llm_cache_list.
const TextChunksNamespace = "text_chunks"

// StampKV applies LightRAG's KV upsert semantics to one incoming record and
// returns the record to store. existing is the stored record or nil; now is
// epoch seconds. It fails with ErrInvalid when data is not a JSON object.
func StampKV(namespace, id string, data, existing Record, now int64) (Record, error) {
	rec, _, err := stampKV(namespace, id, data, existing, now)
	return rec, err
}

// StampKVOwnTime is StampKV for a store that keeps a stored create_time
// itself (the PostgreSQL adapter, in its upsert statement): own reports
// whether data brought its own create_time; without one the record gets now.
func StampKVOwnTime(namespace, id string, data Record, now int64) (rec Record, own bool, err error) {
	return stampKV(namespace, id, data, nil, now)
}

func stampKV(namespace, id string, data, existing Record, now int64) (Record, bool, error) {
	obj, err := decodeObject(data)
	if err != nil {
		return nil, false, fmt.Errorf("%w: record %q: %w", ErrInvalid, id, err)
	}
	idJSON := MarshalString(id)
	nowJSON := []byte(strconv.FormatInt(now, 10))
	obj.set("_id", idJSON)
	obj.set("update_time", nowJSON)
	_, own := obj.get("create_time")
	if !own {
		created := nowJSON
		if existing != nil {
			if old, err := decodeObject(existing); err == nil {
				if v, ok := old.get("create_time"); ok {
					created = v
				}
			}
		}
		obj.set("create_time", created)
	}
	if strings.HasSuffix(namespace, TextChunksNamespace) {
		if _, ok := obj.get("llm_cache_list"); !ok {
			obj.set("llm_cache_list", []byte("[]"))
		}
	}
	return obj.encode(), own, nil
}

// KVView is what get_by_id returns for a stored KV record: the record with
// "_id" set to the key (JsonKVStorage overwrites a stored "_id") and with
// create_time/update_time defaulted to 0.
func KVView(id string, stored Record) Record {
	obj, err := decodeObject(stored)
	if err != nil {
		return stored
	}
	changed := false
	if v, ok := obj.get("_id"); !ok || !isJSONString(v, id) {
		obj.set("_id", MarshalString(id))
		changed = true
	}
	for _, k := range []string{"create_time", "update_time"} {
		if _, ok := obj.get(k); !ok {
			obj.set(k, []byte("0"))
			changed = true
		}
	}
	if !changed {
		return stored
	}
	return obj.encode()
}

// StampDoc applies doc-status upsert semantics: the record is stored as
// given, plus "chunks_list": [] when missing.
func StampDoc(id string, data Record) (Record, error) {
	obj, err := decodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("%w: doc-status record %q: %w", ErrInvalid, id, err)
	}
	if _, ok := obj.get("chunks_list"); !ok {
		obj.set("chunks_list", []byte("[]"))
		return obj.encode(), nil
	}
	return data, nil
}

// docFields are DocProcessingStatus's fields, in its order.
var docFields = []string{"content_summary", "content_length", "file_path", "status", "created_at",
	"updated_at", "track_id", "chunks_count", "chunks_list", "error_msg", "metadata", "multimodal_processed"}

// NormalizeDoc turns a stored doc-status record into the shape LightRAG's
// DocProcessingStatus(**record) accepts: only its fields; legacy "error"
// becomes "error_msg"; falsy file_path becomes "no-file-path"; metadata
// defaults to {}, chunks_list to [], error_msg to null. The stored record is
// not changed.
func NormalizeDoc(stored Record) Record {
	obj, err := decodeObject(stored)
	if err != nil {
		return stored
	}
	out := &object{}
	for _, k := range docFields {
		if v, ok := obj.get(k); ok {
			out.set(k, v)
		}
	}
	if _, ok := out.get("error_msg"); !ok {
		if v, ok := obj.get("error"); ok {
			out.set("error_msg", v)
		} else {
			out.set("error_msg", []byte("null"))
		}
	}
	if v, ok := out.get("file_path"); !ok || isFalsy(v) {
		out.set("file_path", []byte(`"no-file-path"`))
	}
	if v, ok := out.get("metadata"); !ok || isNull(v) {
		out.set("metadata", []byte("{}"))
	}
	if v, ok := out.get("chunks_list"); !ok || isNull(v) {
		out.set("chunks_list", []byte("[]"))
	}
	return out.encode()
}

// DocStatusOf returns a stored record's "status" string ("" if none).
func DocStatusOf(stored Record) string { return stringField(stored, "status") }

// StringField returns a top-level string field of a JSON object ("" if the
// field is missing or not a string).
func StringField(rec Record, key string) string { return stringField(rec, key) }

func stringField(rec Record, key string) string {
	obj, err := decodeObject(rec)
	if err != nil {
		return ""
	}
	v, ok := obj.get(key)
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return ""
	}
	return s
}

// Sort fields accepted by get_docs_paginated.
var docSortFields = []string{"created_at", "updated_at", "id", "file_path"}

// Normalize applies LightRAG's defaults and clamps: page >= 1, page_size
// clamped to 10..200 (0 means 50), sort_field default updated_at, direction
// default desc. An unknown sort field, direction or status is ErrInvalid.
func (r DocPageRequest) Normalize() (DocPageRequest, error) {
	if r.Page < 1 {
		r.Page = 1
	}
	// (page-1)*page_size must not overflow anywhere it is computed.
	if r.Page > MaxDocPage {
		return r, fmt.Errorf("%w: page %d is over the limit of %d", ErrInvalid, r.Page, MaxDocPage)
	}
	switch {
	case r.PageSize == 0:
		r.PageSize = 50
	case r.PageSize < 10:
		r.PageSize = 10
	case r.PageSize > 200:
		r.PageSize = 200
	}
	if r.SortField == "" {
		r.SortField = "updated_at"
	}
	if !slices.Contains(docSortFields, r.SortField) {
		return r, fmt.Errorf("%w: sort_field %q: use one of %s", ErrInvalid, r.SortField, strings.Join(docSortFields, ", "))
	}
	r.SortDirection = strings.ToLower(r.SortDirection)
	if r.SortDirection == "" {
		r.SortDirection = "desc"
	}
	if r.SortDirection != "asc" && r.SortDirection != "desc" {
		return r, fmt.Errorf("%w: sort_direction %q: use asc or desc", ErrInvalid, r.SortDirection)
	}
	if r.StatusFilter != "" && !slices.Contains(DocStatuses, r.StatusFilter) {
		return r, fmt.Errorf("%w: status_filter %q: use one of %s", ErrInvalid, r.StatusFilter, strings.Join(DocStatuses, ", "))
	}
	return r, nil
}

// MaxDocPage is the largest page get_docs_paginated accepts.
const MaxDocPage = 1 << 31

// EntityVectorID is the id LightRAG gives an entity's vector: "ent-"+md5(name).
func EntityVectorID(name string) string {
	sum := md5.Sum([]byte(name))
	return "ent-" + hex.EncodeToString(sum[:])
}

// ScoreLabel scores a node label against a search query the way LightRAG's
// search_labels does (case-insensitive substring): exact 1000, prefix 500,
// otherwise 100 - len(label), plus 50 when the match starts a word (after " "
// or "_"). ok is false when the label does not match.
func ScoreLabel(label, query string) (score int, ok bool) {
	l, q := strings.ToLower(label), strings.ToLower(strings.TrimSpace(query))
	if q == "" {
		return 0, false
	}
	idx := strings.Index(l, q)
	if idx < 0 {
		return 0, false
	}
	switch {
	case l == q:
		score = 1000
	case idx == 0:
		score = 500
	default:
		score = 100 - len([]rune(label))
		// a word boundary: the match follows " " or "_" somewhere in the label
		if strings.Contains(l, " "+q) || strings.Contains(l, "_"+q) {
			score += 50
		}
	}
	return score, true
}

// SearchLabels ranks labels for a query with ScoreLabel: score descending,
// then label ascending, at most limit.
func SearchLabels(labels []string, query string, limit int) []string {
	type scored struct {
		label string
		score int
	}
	var hits []scored
	for _, l := range labels {
		if s, ok := ScoreLabel(l, query); ok {
			hits = append(hits, scored{l, s})
		}
	}
	slices.SortFunc(hits, func(a, b scored) int {
		if a.score != b.score {
			return b.score - a.score
		}
		return strings.Compare(a.label, b.label)
	})
	if limit > 0 && len(hits) > limit {
		hits = hits[:limit]
	}
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.label
	}
	return out
}

// SplitSourceIDs splits a <SEP>-joined source_id.
func SplitSourceIDs(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, GraphFieldSep)
}

// object is a JSON object that keeps its key order, so records we rewrite
// keep the layout LightRAG wrote.
type object struct {
	keys []string
	vals map[string]json.RawMessage
}

func decodeObject(data []byte) (*object, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("want a JSON object, got %s", describe(tok))
	}
	o := &object{vals: map[string]json.RawMessage{}}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("field %q: %w", k, err)
		}
		o.set(k, v)
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the object")
	}
	return o, nil
}

func describe(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '[' {
			return "an array"
		}
		return string(t)
	case string:
		return "a string"
	case nil:
		return "null"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}

func (o *object) get(k string) (json.RawMessage, bool) {
	v, ok := o.vals[k]
	return v, ok
}

func (o *object) set(k string, v json.RawMessage) {
	if o.vals == nil {
		o.vals = map[string]json.RawMessage{}
	}
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

func (o *object) encode() Record {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(MarshalString(k))
		b.WriteByte(':')
		b.Write(o.vals[k])
	}
	b.WriteByte('}')
	return b.Bytes()
}

// isJSONString reports whether v is the JSON string s.
func isJSONString(v json.RawMessage, s string) bool {
	var got string
	return json.Unmarshal(v, &got) == nil && got == s
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

func isFalsy(v json.RawMessage) bool {
	switch string(bytes.TrimSpace(v)) {
	case "null", `""`, "false", "0":
		return true
	}
	return false
}

// MarshalString encodes s as a JSON string the way Python's
// json.dumps(ensure_ascii=False) does: no HTML escaping of <, > and &.
func MarshalString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
