package proxy

import (
	"github.com/labstack/echo/v4"
)

// route is one row of the route table: the one place that says what each
// route is called (telemetry's operation name, log lines) and whether it
// changes stored data (refused while the database is in maintenance).
type route struct {
	method string
	path   string // echo's template: "/v1/databases/:db/kv/:namespace/get"
	op     string
	write  bool
	// backend: the answer comes from the database's backend, so a success
	// shows the backend is up (it ends an outage in the log, outage.go).
	backend bool
	h       echo.HandlerFunc
}

// Path prefixes of the route table.
const (
	dbPath     = "/v1/databases/:db"
	kvPath     = dbPath + "/kv/:namespace"
	vecPath    = dbPath + "/vectors/:namespace"
	graphPath  = dbPath + "/graphs/:namespace"
	docSetPath = dbPath + "/doc-status/:namespace"
)

// routeTable lists every route of openapi.yaml (spec_test checks both agree).
func (s *Server) routeTable() []route {
	const get, post, put, del = "GET", "POST", "PUT", "DELETE"
	return []route{
		{get, "/healthz", "healthz", false, false, s.healthz},
		{get, "/readyz", "readyz", false, false, s.readyz},
		{get, "/v1/version", "version", false, false, s.version},
		{get, "/v1/openapi.yaml", "openapi", false, false, s.openapi},
		{get, "/metrics", "metrics", false, false, s.metricsHandler},
		{get, "/v1/status", "status", false, false, s.status},
		{post, "/v1/provision/docker", "provision.docker", false, false, s.provisionDocker},
		{post, "/v1/backends/test", "backends.test", false, false, s.testBackend},

		{get, "/v1/databases", "databases.list", false, false, s.listDatabases},
		{get, dbPath, "database.get", false, true, s.getDatabase},
		{put, dbPath, "database.put", false, false, s.putDatabase},
		{del, dbPath, "database.delete", false, false, s.deleteDatabase},
		{get, dbPath + "/status", "database.status", false, false, s.databaseStatus},
		{post, dbPath + "/flush", "database.flush", false, true, s.flush},
		{get, dbPath + "/namespaces", "database.namespaces", false, true, s.namespaces},
		{get, dbPath + "/backend", "database.backend.get", false, false, s.getBackend},
		{put, dbPath + "/backend", "database.backend.put", false, false, s.putBackend},
		{put, dbPath + "/maintenance", "database.maintenance", false, false, s.putMaintenance},
		{post, dbPath + "/migration", "database.migration.start", false, false, s.startMigration},
		{get, dbPath + "/migration", "database.migration.get", false, false, s.getMigration},
		{del, dbPath + "/migration", "database.migration.cancel", false, false, s.cancelMigration},
		{post, dbPath + "/migration/verify", "database.migration.verify", false, false, s.verifyMigration},
		{post, dbPath + "/migration/cutover", "database.migration.cutover", false, false, s.cutoverMigration},
		{post, dbPath + "/migration/abort", "database.migration.abort", false, false, s.abortMigration},
		{post, dbPath + "/migration/rollback", "database.migration.rollback", false, false, s.rollbackMigration},

		{get, kvPath, "kv.info", false, true, s.kvInfo},
		{del, kvPath, "kv.drop", true, true, s.kvDrop},
		{post, kvPath + "/get", "kv.get", false, true, s.kvGet},
		{post, kvPath + "/filter-keys", "kv.filter-keys", false, true, s.kvFilterKeys},
		{post, kvPath + "/upsert", "kv.upsert", true, true, s.kvUpsert},
		{post, kvPath + "/delete", "kv.delete", true, true, s.kvDelete},
		{get, kvPath + "/records", "kv.records", false, true, s.kvRecords},

		{get, vecPath, "vectors.info", false, true, s.vecInfo},
		{del, vecPath, "vectors.drop", true, true, s.vecDrop},
		{post, vecPath + "/upsert", "vectors.upsert", true, true, s.vecUpsert},
		{post, vecPath + "/query", "vectors.query", false, true, s.vecQuery},
		{post, vecPath + "/get", "vectors.get", false, true, s.vecGet},
		{post, vecPath + "/vectors", "vectors.vectors", false, true, s.vecVectors},
		{post, vecPath + "/delete", "vectors.delete", true, true, s.vecDelete},
		{post, vecPath + "/delete-entity", "vectors.delete-entity", true, true, s.vecDeleteEntity},
		{post, vecPath + "/delete-entity-relation", "vectors.delete-entity-relation", true, true, s.vecDeleteEntityRelation},
		{get, vecPath + "/records", "vectors.records", false, true, s.vecRecords},

		{get, graphPath, "graphs.info", false, true, s.graphInfo},
		{del, graphPath, "graphs.drop", true, true, s.graphDrop},
		{post, graphPath + "/nodes/has", "graphs.nodes.has", false, true, s.graphHasNodes},
		{post, graphPath + "/nodes/get", "graphs.nodes.get", false, true, s.graphGetNodes},
		{post, graphPath + "/nodes/degrees", "graphs.nodes.degrees", false, true, s.graphNodeDegrees},
		{post, graphPath + "/nodes/edges", "graphs.nodes.edges", false, true, s.graphNodesEdges},
		{post, graphPath + "/nodes/upsert", "graphs.nodes.upsert", true, true, s.graphUpsertNodes},
		{post, graphPath + "/nodes/delete", "graphs.nodes.delete", true, true, s.graphDeleteNodes},
		{post, graphPath + "/nodes/by-chunk-ids", "graphs.nodes.by-chunk-ids", false, true, s.graphNodesByChunkIDs},
		{post, graphPath + "/edges/has", "graphs.edges.has", false, true, s.graphHasEdges},
		{post, graphPath + "/edges/get", "graphs.edges.get", false, true, s.graphGetEdges},
		{post, graphPath + "/edges/degrees", "graphs.edges.degrees", false, true, s.graphEdgeDegrees},
		{post, graphPath + "/edges/upsert", "graphs.edges.upsert", true, true, s.graphUpsertEdges},
		{post, graphPath + "/edges/delete", "graphs.edges.delete", true, true, s.graphDeleteEdges},
		{post, graphPath + "/edges/by-chunk-ids", "graphs.edges.by-chunk-ids", false, true, s.graphEdgesByChunkIDs},
		{get, graphPath + "/labels", "graphs.labels", false, true, s.graphLabels},
		{get, graphPath + "/labels/popular", "graphs.labels.popular", false, true, s.graphPopularLabels},
		{get, graphPath + "/labels/search", "graphs.labels.search", false, true, s.graphSearchLabels},
		{get, graphPath + "/nodes", "graphs.nodes", false, true, s.graphScanNodes},
		{get, graphPath + "/edges", "graphs.edges", false, true, s.graphScanEdges},
		{post, graphPath + "/knowledge-graph", "graphs.knowledge-graph", false, true, s.graphKnowledgeGraph},

		{get, docSetPath, "doc-status.info", false, true, s.docInfo},
		{del, docSetPath, "doc-status.drop", true, true, s.docDrop},
		{post, docSetPath + "/get", "doc-status.get", false, true, s.docGet},
		{post, docSetPath + "/filter-keys", "doc-status.filter-keys", false, true, s.docFilterKeys},
		{post, docSetPath + "/upsert", "doc-status.upsert", true, true, s.docUpsert},
		{post, docSetPath + "/delete", "doc-status.delete", true, true, s.docDelete},
		{get, docSetPath + "/records", "doc-status.records", false, true, s.docRecords},
		{get, docSetPath + "/counts", "doc-status.counts", false, true, s.docCounts},
		{post, docSetPath + "/by-statuses", "doc-status.by-statuses", false, true, s.docByStatuses},
		{post, docSetPath + "/by-track-id", "doc-status.by-track-id", false, true, s.docByTrackID},
		{post, docSetPath + "/paginated", "doc-status.paginated", false, true, s.docPaginated},
		{post, docSetPath + "/by-file-path", "doc-status.by-file-path", false, true, s.docByFilePath},
	}
}

type routeKey struct{ method, path string }

// routes registers the route table and indexes it for the middlewares,
// which look a request's route up by echo's matched template.
func (s *Server) routes(e *echo.Echo) {
	s.routeInfo = map[routeKey]route{}
	for _, r := range s.routeTable() {
		e.Add(r.method, r.path, r.h)
		s.routeInfo[routeKey{r.method, r.path}] = r
	}
}

// routeOf returns the matched route of c; ok is false before routing or for
// a path no route matches.
func (s *Server) routeOf(c echo.Context) (route, bool) {
	r, ok := s.routeInfo[routeKey{c.Request().Method, c.Path()}]
	return r, ok
}
