// Package dataset generates LightRAG working directories of a requested size
// for tests and benchmarks: the files of the current LightRAG release (KV
// stores, NanoVectorDB files with a float32 matrix and per-item float16
// vectors, the typed GraphML graph, doc status) with LightRAG's id schemes
// and the entity/relation/chunk ratios of real output. Output streams: memory
// stays flat however large the folder.
package dataset

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"
)

// Defaults.
const (
	DefaultDim = 1536
	// baseTime is the first document's timestamp (2025-10-27, a 1.4.9 era
	// date) so a seed always gives the same bytes.
	baseTime int64 = 1761551435
	sep            = "<SEP>"
)

// Options configures Generate.
type Options struct {
	// Size is the target size of the folder in bytes; the result lands
	// within about one chunk's worth of it (Stats.Bytes is exact).
	Size int64
	// Dim is the embedding dimension; 0 means 1536 (OpenAI's).
	Dim int
	// Seed makes the output reproducible: the same seed gives the same bytes.
	Seed uint64
}

// Stats describes what Generate wrote.
type Stats struct {
	Bytes        int64 `json:"bytes"`
	Docs         int   `json:"docs"`
	FailedDocs   int   `json:"failed_docs"`
	Chunks       int   `json:"chunks"`
	Entities     int   `json:"entities"`
	Relations    int   `json:"relations"`
	CacheEntries int   `json:"cache_entries"`
}

type entity struct {
	name, typ, description string
	chunks                 []string
	createdAt              int64
}

type relation struct {
	src, tgt, keywords, description string
	weight                          float64
	chunks                          []string
	createdAt                       int64
}

// files is the open output of one generation.
type files struct {
	fullDocs, chunks, fullEntities, fullRelations, entityChunks, relationChunks, cache, docStatus kvFile
	vdbEntities, vdbRelations, vdbChunks                                                          *vdbFile
	graph                                                                                         *graphFile
}

// Generate writes a LightRAG folder of about opts.Size bytes into dir
// (created if missing; it must hold no LightRAG files yet).
func Generate(ctx context.Context, dir string, opts Options) (Stats, error) {
	if opts.Size <= 0 {
		return Stats{}, errors.New("generate: size must be positive (for example 100MB)")
	}
	if opts.Dim == 0 {
		opts.Dim = DefaultDim
	}
	if opts.Dim < 1 || opts.Dim > 65536 {
		return Stats{}, fmt.Errorf("generate: dimension %d is out of range (1..65536)", opts.Dim)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Stats{}, fmt.Errorf("generate %s: %w", dir, err)
	}
	if existing, err := lightragFiles(dir); err != nil {
		return Stats{}, err
	} else if len(existing) > 0 {
		return Stats{}, fmt.Errorf("generate %s: the folder already holds LightRAG files (%s): choose an empty or new folder",
			dir, strings.Join(existing, ", "))
	}
	g := &generator{opts: opts, rng: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))}
	g.text = textGen{rng: g.rng}
	g.emb = newEmbedder(opts.Dim, g.rng)
	if err := g.open(dir); err != nil {
		g.discard()
		return Stats{}, err
	}
	if err := g.run(ctx); err != nil {
		g.discard()
		return Stats{}, err
	}
	if err := g.finish(); err != nil {
		g.discard()
		return Stats{}, err
	}
	g.stats.Bytes = g.total
	return g.stats, nil
}

// lightragFiles lists LightRAG storage files already in dir.
func lightragFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("generate %s: %w", dir, err)
	}
	var out []string
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, "kv_store_") || strings.HasPrefix(n, "vdb_") || strings.HasPrefix(n, "graph_") {
			out = append(out, n)
		}
	}
	return out, nil
}

type generator struct {
	opts  Options
	rng   *rand.Rand
	text  textGen
	emb   *embedder
	f     files
	total int64
	stats Stats
	// nextEntity numbers entities; entityName makes each number a unique name.
	nextEntity int
}

func (g *generator) open(dir string) error {
	var err error
	kv := func(ns string, dst *kvFile) {
		if err == nil {
			*dst, err = createKV(dir, ns, &g.total)
		}
	}
	kv("full_docs", &g.f.fullDocs)
	kv("text_chunks", &g.f.chunks)
	kv("full_entities", &g.f.fullEntities)
	kv("full_relations", &g.f.fullRelations)
	kv("entity_chunks", &g.f.entityChunks)
	kv("relation_chunks", &g.f.relationChunks)
	kv("llm_response_cache", &g.f.cache)
	kv("doc_status", &g.f.docStatus)
	vdb := func(ns string, dst **vdbFile) {
		if err == nil {
			*dst, err = createVDB(dir, ns, g.opts.Dim, &g.total)
		}
	}
	vdb("entities", &g.f.vdbEntities)
	vdb("relationships", &g.f.vdbRelations)
	vdb("chunks", &g.f.vdbChunks)
	if err == nil {
		g.f.graph, err = createGraph(dir, &g.total)
	}
	return err
}

func (g *generator) kvFiles() []kvFile {
	return []kvFile{g.f.fullDocs, g.f.chunks, g.f.fullEntities, g.f.fullRelations, g.f.entityChunks,
		g.f.relationChunks, g.f.cache, g.f.docStatus}
}

func (g *generator) finish() error {
	for _, k := range g.kvFiles() {
		if err := k.finish(); err != nil {
			return err
		}
	}
	for _, v := range []*vdbFile{g.f.vdbEntities, g.f.vdbRelations, g.f.vdbChunks} {
		if err := v.finish(&g.total); err != nil {
			return err
		}
	}
	return g.f.graph.finish(&g.total)
}

// discard closes everything and removes the temp files; the partial folder
// stays for inspection.
func (g *generator) discard() {
	for _, k := range g.kvFiles() {
		if k.outFile != nil {
			_ = k.close()
		}
	}
	for _, v := range []*vdbFile{g.f.vdbEntities, g.f.vdbRelations, g.f.vdbChunks} {
		if v != nil {
			v.discard()
		}
	}
	if g.f.graph != nil {
		g.f.graph.discard()
	}
}

// run writes documents until the folder reaches the target size.
func (g *generator) run(ctx context.Context) error {
	// A first guess of the bytes one chunk brings (text, cache, ~5 entities
	// and ~5 relations with two encodings of each vector); measured after
	// the first document.
	perChunk := float64(30000 + 130*g.opts.Dim)
	for doc := 0; g.size() < g.opts.Size; doc++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("generate: %w", err)
		}
		remaining := float64(g.opts.Size - g.size())
		maxChunks := int(min(remaining/perChunk, 1000)) + 1
		if err := g.document(doc, maxChunks); err != nil {
			return err
		}
		if size := g.size(); g.stats.Chunks > 0 && size > 0 {
			perChunk = float64(size) / float64(g.stats.Chunks)
		}
	}
	return nil
}

// size is the folder's size so far: bytes written plus bytes buffered.
func (g *generator) size() int64 {
	n := g.total
	for _, k := range g.kvFiles() {
		n += int64(k.w.Buffered())
	}
	for _, v := range []*vdbFile{g.f.vdbEntities, g.f.vdbRelations, g.f.vdbChunks} {
		n += int64(v.w.Buffered()+v.matrix.w.Buffered()) + 3 // base64 encoder holds up to 2 bytes
	}
	return n + int64(g.f.graph.w.Buffered()+g.f.graph.edges.w.Buffered())
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func isoTime(sec int64, micros int) string {
	return time.Unix(sec, int64(micros)*1000).UTC().Format("2006-01-02T15:04:05.000000") + "+00:00"
}

func stamp(rec obj, id string, t int64) obj {
	return append(rec, kv{"create_time", t}, kv{"update_time", t}, kv{"_id", id})
}

func (g *generator) document(doc, maxChunks int) error {
	ts := baseTime + int64(doc)*97
	topic := g.rng.IntN(topics)
	filePath := fmt.Sprintf("/data/inputs/%s_%s_%d.txt", words[g.rng.IntN(len(words))], words[g.rng.IntN(len(words))], doc)
	trackID := fmt.Sprintf("insert_%s_%08x", time.Unix(ts, 0).UTC().Format("20060102_150405"), g.rng.Uint32())

	nChunks := min(8+g.rng.IntN(25), maxChunks)
	contents := make([]string, nChunks)
	for c := range contents {
		tokens := 1200
		if c == nChunks-1 {
			tokens = 150 + g.rng.IntN(1000)
		}
		contents[c] = g.text.prose(tokens * 4)
	}
	docContent := strings.Join(contents, "\n\n")
	docID := "doc-" + md5hex(docContent)
	g.f.fullDocs.put(docID, stamp(obj{{"content", docContent}, {"file_path", filePath}}, docID, ts))
	g.stats.Docs++

	// A few documents failed, as in real folders: no chunks, an error.
	if g.rng.IntN(40) == 0 {
		g.stats.FailedDocs++
		g.f.docStatus.put(docID, obj{
			{"status", "failed"}, {"error_msg", "Error code: 429 - rate limit reached for requests"},
			{"content_summary", summary(docContent)}, {"content_length", len(docContent)},
			{"created_at", isoTime(ts, 355466)}, {"updated_at", isoTime(ts+3, 298896)},
			{"file_path", filePath}, {"track_id", trackID},
			{"metadata", obj{{"processing_start_time", ts}, {"processing_end_time", ts + 3}}}, {"chunks_list", []string{}},
		})
		return nil
	}

	chunkIDs := make([]string, nChunks)
	var docEntities []*entity
	relations := map[string]*relation{}
	var relOrder []*relation
	for c, content := range contents {
		chunkID := "chunk-" + md5hex(content)
		chunkIDs[c] = chunkID
		ct := ts + int64(c) + 1
		// About five new entities per chunk and a few re-mentions.
		var inChunk []*entity
		for range 3 + g.rng.IntN(5) {
			e := g.newEntity(chunkID, ct)
			docEntities = append(docEntities, e)
			inChunk = append(inChunk, e)
		}
		for range min(len(docEntities)-len(inChunk), g.rng.IntN(3)) {
			e := docEntities[g.rng.IntN(len(docEntities)-len(inChunk))]
			if e.chunks[len(e.chunks)-1] != chunkID {
				e.chunks = append(e.chunks, chunkID)
				inChunk = append(inChunk, e)
			}
		}
		// About as many relations as entities, between entities of the chunk.
		var relInChunk []*relation
		for range len(inChunk) - 1 + g.rng.IntN(2) {
			a, b := inChunk[g.rng.IntN(len(inChunk))], inChunk[g.rng.IntN(len(inChunk))]
			if a == b {
				continue
			}
			src, tgt := a.name, b.name
			if tgt < src {
				src, tgt = tgt, src
			}
			key := src + sep + tgt
			r := relations[key]
			if r == nil {
				r = g.newRelation(src, tgt, ct)
				relations[key] = r
				relOrder = append(relOrder, r)
			}
			if len(r.chunks) == 0 || r.chunks[len(r.chunks)-1] != chunkID {
				r.chunks = append(r.chunks, chunkID)
				r.weight++
				relInChunk = append(relInChunk, r)
			}
		}
		cacheKeys, err := g.extractCache(chunkID, content, inChunk, relInChunk, ct)
		if err != nil {
			return err
		}
		tokens := len(content) / 4
		g.f.chunks.put(chunkID, stamp(obj{
			{"tokens", tokens}, {"content", content}, {"chunk_order_index", c}, {"full_doc_id", docID},
			{"file_path", filePath}, {"llm_cache_list", cacheKeys},
		}, chunkID, ct))
		row, vec, err := g.emb.next(topic)
		if err != nil {
			return err
		}
		if err := g.f.vdbChunks.put(obj{
			{"__id__", chunkID}, {"__created_at__", ct}, {"content", content}, {"full_doc_id", docID},
			{"file_path", filePath}, {"vector", vec},
		}, row); err != nil {
			return err
		}
		g.stats.Chunks++
	}

	names := make([]string, len(docEntities))
	for i, e := range docEntities {
		names[i] = e.name
		if err := g.writeEntity(e, filePath, topic); err != nil {
			return err
		}
	}
	pairs := make([][2]string, len(relOrder))
	for i, r := range relOrder {
		pairs[i] = [2]string{r.src, r.tgt}
		if err := g.writeRelation(r, filePath, topic); err != nil {
			return err
		}
	}
	end := ts + int64(nChunks) + 2
	g.f.fullEntities.put(docID, stamp(obj{{"entity_names", names}, {"count", len(names)}}, docID, end))
	g.f.fullRelations.put(docID, stamp(obj{{"relation_pairs", pairs}, {"count", len(pairs)}}, docID, end))
	g.f.docStatus.put(docID, obj{
		{"status", "processed"}, {"chunks_count", nChunks}, {"chunks_list", chunkIDs},
		{"content_summary", summary(docContent)}, {"content_length", len(docContent)},
		{"created_at", isoTime(ts, 355466)}, {"updated_at", isoTime(end, 298896)},
		{"file_path", filePath}, {"track_id", trackID},
		{"metadata", obj{{"processing_start_time", ts}, {"processing_end_time", end}}},
	})
	if doc%4 == 0 {
		g.queryCache(docEntities, end)
	}
	return nil
}

func summary(content string) string {
	r := []rune(content)
	if len(r) <= 100 {
		return content
	}
	return string(r[:100]) + "..."
}

func (g *generator) newEntity(chunkID string, t int64) *entity {
	name := entityName(g.nextEntity)
	g.nextEntity++
	typ := entityTypes[g.rng.IntN(len(entityTypes))]
	desc := name + " is a " + typ + " " + g.text.prose(150+g.rng.IntN(550))
	return &entity{name: name, typ: typ, description: desc, chunks: []string{chunkID}, createdAt: t}
}

func (g *generator) newRelation(src, tgt string, t int64) *relation {
	k1, k2 := words[g.rng.IntN(len(words))], words[g.rng.IntN(len(words))]
	if k2 < k1 {
		k1, k2 = k2, k1
	}
	verb := relationVerbs[g.rng.IntN(len(relationVerbs))]
	desc := src + " " + verb + " " + tgt + ". " + g.text.prose(60+g.rng.IntN(200))
	return &relation{src: src, tgt: tgt, keywords: k1 + " " + verb + "," + k2, description: desc, createdAt: t}
}

func (g *generator) writeEntity(e *entity, filePath string, topic int) error {
	g.stats.Entities++
	t := e.createdAt
	g.f.entityChunks.put(e.name, stamp(obj{{"chunk_ids", e.chunks}, {"count", len(e.chunks)}}, e.name, t))
	row, vec, err := g.emb.next(topic)
	if err != nil {
		return err
	}
	id := "ent-" + md5hex(e.name)
	if err := g.f.vdbEntities.put(obj{
		{"__id__", id}, {"__created_at__", t}, {"entity_name", e.name}, {"content", e.name + "\n" + e.description},
		{"source_id", strings.Join(e.chunks, sep)}, {"file_path", filePath}, {"vector", vec},
	}, row); err != nil {
		return err
	}
	g.f.graph.node(e, filePath)
	if len(e.chunks) >= 3 {
		prompt := summaryPrompt + e.name + "\n" + e.description
		key := "default:summary:" + md5hex(prompt)
		g.putCache(key, obj{{"return", e.description}, {"cache_type", "summary"}, {"chunk_id", null{}},
			{"original_prompt", prompt}, {"queryparam", null{}}}, t)
	}
	return nil
}

func (g *generator) writeRelation(r *relation, filePath string, topic int) error {
	g.stats.Relations++
	key := r.src + sep + r.tgt
	g.f.relationChunks.put(key, stamp(obj{{"chunk_ids", r.chunks}, {"count", len(r.chunks)}}, key, r.createdAt))
	row, vec, err := g.emb.next(topic)
	if err != nil {
		return err
	}
	if err := g.f.vdbRelations.put(obj{
		{"__id__", "rel-" + md5hex(r.src+r.tgt)}, {"__created_at__", r.createdAt}, {"src_id", r.src}, {"tgt_id", r.tgt},
		{"source_id", strings.Join(r.chunks, sep)},
		{"content", r.keywords + "\t" + r.src + "\n" + r.tgt + "\n" + r.description},
		{"file_path", filePath}, {"vector", vec},
	}, row); err != nil {
		return err
	}
	g.f.graph.edge(r, filePath)
	return nil
}

func (g *generator) putCache(key string, rec obj, t int64) {
	g.stats.CacheEntries++
	g.f.cache.put(key, stamp(rec, key, t))
}

// extractCache writes the two extraction entries of a chunk (first pass and
// gleaning) and returns their keys for the chunk's llm_cache_list.
func (g *generator) extractCache(chunkID, content string, ents []*entity, rels []*relation, t int64) ([]string, error) {
	var out strings.Builder
	for _, e := range ents {
		fmt.Fprintf(&out, "entity<|#|>%s<|#|>%s<|#|>%s\n", e.name, e.typ, e.description)
	}
	for _, r := range rels {
		fmt.Fprintf(&out, "relation<|#|>%s<|#|>%s<|#|>%s<|#|>%s\n", r.src, r.tgt, r.keywords, r.description)
	}
	out.WriteString("<|COMPLETE|>")
	keys := make([]string, 0, 2)
	for pass, p := range []string{extractPrompt, gleanPrompt} {
		prompt := p + content
		key := "default:extract:" + md5hex(prompt)
		ret := out.String()
		if pass == 1 {
			ret = "<|COMPLETE|>"
		}
		g.putCache(key, obj{{"return", ret}, {"cache_type", "extract"}, {"chunk_id", chunkID},
			{"original_prompt", prompt}, {"queryparam", null{}}}, t)
		keys = append(keys, key)
	}
	return keys, nil
}

// queryCache writes a query's keyword and answer entries, as LightRAG does
// for each (cached) query.
func (g *generator) queryCache(ents []*entity, t int64) {
	if len(ents) == 0 {
		return
	}
	e := ents[g.rng.IntN(len(ents))]
	question := "What is the role of " + e.name + "?"
	param := obj{{"mode", "mix"}, {"response_type", "Multiple Paragraphs"}, {"top_k", 40}, {"chunk_top_k", 20},
		{"max_entity_tokens", 6000}, {"max_relation_tokens", 8000}, {"max_total_tokens", 30000},
		{"user_prompt", ""}, {"enable_rerank", true}}
	kw := fmt.Sprintf(`{"high_level_keywords": [%q], "low_level_keywords": [%q, %q]}`, e.typ, e.name, words[g.rng.IntN(len(words))])
	g.putCache("mix:keywords:"+md5hex("keywords"+question), obj{{"return", kw}, {"cache_type", "keywords"},
		{"chunk_id", null{}}, {"original_prompt", question}, {"queryparam", param}}, t)
	g.putCache("mix:query:"+md5hex("query"+question), obj{{"return", e.description + "\n\n" + g.text.prose(600)},
		{"cache_type", "query"}, {"chunk_id", null{}}, {"original_prompt", question}, {"queryparam", param}}, t)
}

// The prompt texts stand in for LightRAG's prompts at a similar size (the
// cache stores the full prompt, which is why the cache file is large).
const (
	instruction = "---Instructions---\nList each entity with its name, type and description, then each relationship " +
		"with its source, target, keywords and description, one per line, using <|#|> between fields.\n"
	instructions4 = instruction + instruction + instruction + instruction
	extractPrompt = "---Task---\nExtract entities and relationships from the input text.\n\n" +
		instructions4 + instructions4 + instructions4 + "\n---Input Text---\n"
	gleanPrompt   = "---Task---\nList the entities and relationships missed in the last extraction.\n\n---Input Text---\n"
	summaryPrompt = "---Task---\nMerge the descriptions of one entity into a single summary.\n\n---Descriptions---\n"
)

// Files lists the files Generate writes, relative to its folder.
func Files() []string {
	return []string{
		"kv_store_full_docs.json", "kv_store_text_chunks.json", "kv_store_full_entities.json",
		"kv_store_full_relations.json", "kv_store_entity_chunks.json", "kv_store_relation_chunks.json",
		"kv_store_llm_response_cache.json", "kv_store_doc_status.json", "vdb_entities.json",
		"vdb_relationships.json", "vdb_chunks.json", "graph_chunk_entity_relation.graphml",
	}
}
