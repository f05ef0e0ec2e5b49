package monitor

import (
	"fmt"
	"strings"
)

// DefaultProxyURL is the proxy address put in curl commands when the
// proxy's own address is not known.
const DefaultProxyURL = "http://127.0.0.1:8080"

// dsnPlaceholder stands for the user's connection string in commands.
const dsnPlaceholder = "postgres://USER:PASSWORD@HOST:5432/DBNAME"

// MigrateCommand is the CLI command that moves database db, data and all,
// to PostgreSQL (it runs inside a proxy that serves the registry).
func MigrateCommand(db string) string {
	return fmt.Sprintf("proxy migrate %s --to postgres --dsn '%s'", db, dsnPlaceholder)
}

// MigrateCurl is the same through the admin API of a running proxy; GET on
// the same path follows it.
func MigrateCurl(proxyURL, db string) string {
	if proxyURL == "" {
		proxyURL = DefaultProxyURL
	}
	return fmt.Sprintf(`curl -X POST %s/v1/databases/%s/migration -H 'Content-Type: application/json' -d '{"to":"postgres","dsn":"%s"}'`,
		strings.TrimRight(proxyURL, "/"), db, dsnPlaceholder)
}

func howToMigrate(db, proxyURL string) string {
	return fmt.Sprintf("Run: %s (or, against the running proxy: %s). The DSN names a PostgreSQL database with the pgvector extension. "+
		"Add --live (\"mode\":\"live\") to move it while HybridRAG keeps writing.",
		MigrateCommand(db), MigrateCurl(proxyURL, db))
}

func fileWarning(db, file string, size, threshold int64, proxyURL string) Warning {
	return Warning{Code: CodeFileOverThreshold, Command: MigrateCommand(db), Message: fmt.Sprintf(
		"database %s: file %s is %s, over the per-file threshold of %s. JSON storage holds every file in memory and rewrites it whole on each flush; consider moving this database to PostgreSQL. %s",
		db, file, Human(size), Human(threshold), howToMigrate(db, proxyURL))}
}

func totalWarning(db string, total, threshold int64, proxyURL string) Warning {
	return Warning{Code: CodeTotalOverThreshold, Command: MigrateCommand(db), Message: fmt.Sprintf(
		"database %s: its JSON files total %s, over the total threshold of %s. Performance will degrade (memory use and flush time grow with the files, up to running out of memory); PostgreSQL is strongly recommended. %s",
		db, Human(total), Human(threshold), howToMigrate(db, proxyURL))}
}

// percentOf is size as a whole percentage of threshold, rounded down.
func percentOf(size, threshold int64) int64 { return size * 100 / threshold }

func fileApproachingWarning(db, file string, size, threshold int64, proxyURL string) Warning {
	return Warning{Code: CodeFileApproaching, Command: MigrateCommand(db), Message: fmt.Sprintf(
		"database %s: file %s is %s, %d%% of the per-file threshold of %s and approaching it. JSON storage holds every file in memory and rewrites it whole on each flush; plan moving this database to PostgreSQL before it gets there. %s",
		db, file, Human(size), percentOf(size, threshold), Human(threshold), howToMigrate(db, proxyURL))}
}

func totalApproachingWarning(db string, total, threshold int64, proxyURL string) Warning {
	return Warning{Code: CodeTotalApproaching, Command: MigrateCommand(db), Message: fmt.Sprintf(
		"database %s: its JSON files total %s, %d%% of the total threshold of %s and approaching it. Memory use and flush time grow with the files; plan moving this database to PostgreSQL before it gets there. %s",
		db, Human(total), percentOf(total, threshold), Human(threshold), howToMigrate(db, proxyURL))}
}
