package postgres

// BookkeepingTable reports whether a table holds the proxy's own state
// (migration checkpoints, cross-proxy coordination) rather than records.
func BookkeepingTable(name string) bool {
	return name == checkpointTable
}
