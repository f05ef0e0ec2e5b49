package registry

import (
	"errors"
	"fmt"
	"time"

	"github.com/hybridrag/storage-proxy/adapters"
)

// Live migration phases, in order (LiveMigration.Phase).
const (
	PhaseBackfill = "backfill"
	PhaseVerify   = "verify"
	PhaseShadow   = "shadow"
	PhaseCutover  = "cutover"
)

// LiveMigration is a live migration in progress (`proxy migrate --live`):
// while it is set the proxy writes every acknowledged write to the
// database's backend and to the target, and answers reads from the former.
// It is kept in the registry so a restarted proxy goes on dual-writing
// before it serves a single request.
type LiveMigration struct {
	// ID names this run (its checkpoints, its state file).
	ID string `yaml:"id"`
	// The target: a backend definition name (PostgreSQL), or a folder
	// (JSON, a rollback), and the workspace, as in a database entry.
	Backend   string `yaml:"backend,omitempty"`
	Path      string `yaml:"path,omitempty"`
	Workspace string `yaml:"workspace,omitempty"`
	// Phase is the last phase the migration reached.
	Phase string `yaml:"phase"`
	// Rollback marks the reverse move of an earlier cutover.
	Rollback bool      `yaml:"rollback,omitempty"`
	Started  time.Time `yaml:"started"`
	// Options are the run's settings (shadow share, clean window...), kept
	// so a restarted proxy resumes with them.
	Options LiveOptions `yaml:"options"`

	resolved BackendDef
}

// LiveOptions are the settings of a live migration a restart must keep.
type LiveOptions struct {
	// ShadowShare is the share of reads also run on the target, 0 to 1.
	ShadowShare float64 `yaml:"shadow_share"`
	// CleanRequests and CleanMinutes are the clean window: that many shadow
	// reads and minutes without a mismatch allow the cutover.
	CleanRequests int64   `yaml:"clean_requests"`
	CleanMinutes  float64 `yaml:"clean_minutes"`
	// AutoCutover cuts over as soon as the clean window passed; else
	// the migration waits for POST .../migration/cutover.
	AutoCutover bool `yaml:"auto_cutover,omitempty"`
	// AbortAfterSeconds aborts the migration when the target stays
	// unavailable that long.
	AbortAfterSeconds float64 `yaml:"abort_after_seconds"`
}

// Archive is the backend a database left at a live migration's cutover: kept
// as it was then, never written again by the proxy (`rollback` moves back
// into it).
type Archive struct {
	Backend   string    `yaml:"backend,omitempty"`
	Path      string    `yaml:"path,omitempty"`
	Workspace string    `yaml:"workspace,omitempty"`
	Since     time.Time `yaml:"since"`
}

// Target is the entry the database has once the migration cut over.
func (l *LiveMigration) Target() Database {
	return Database{Backend: l.Backend, Path: l.Path, Workspace: l.Workspace, Resolved: l.resolved}
}

// SameRun reports whether two entries' live migrations are one run (or both
// absent): a phase change keeps the database's dual backend open.
func (l *LiveMigration) SameRun(o *LiveMigration) bool {
	if l == nil || o == nil {
		return l == o
	}
	return l.ID == o.ID && l.Backend == o.Backend && l.Path == o.Path && l.Workspace == o.Workspace &&
		l.resolved == o.resolved
}

// Entry is the archive as a database entry (to migrate back into it).
func (a *Archive) Entry() Database {
	return Database{Backend: a.Backend, Path: a.Path, Workspace: a.Workspace}
}

func (l *LiveMigration) validate(backends map[string]BackendDef) error {
	if err := adapters.ValidateName("id", l.ID); err != nil {
		return err
	}
	switch l.Phase {
	case PhaseBackfill, PhaseVerify, PhaseShadow, PhaseCutover:
	default:
		return fmt.Errorf("phase: %q is not a live migration phase (backfill, verify, shadow, cutover)", l.Phase)
	}
	t := l.Target()
	if err := t.Validate(); err != nil {
		return err
	}
	if t.Backend != "" && t.Backend != BackendJSON {
		if _, ok := backends[t.Backend]; !ok {
			return fmt.Errorf("backend: no backend named %q in backends", t.Backend)
		}
	}
	if l.Options.ShadowShare < 0 || l.Options.ShadowShare > 1 {
		return errors.New("options.shadow_share: must be between 0 and 1")
	}
	return nil
}
