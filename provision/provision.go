// Package provision runs PostgreSQL with pgvector in a Docker container for
// the proxy: it finds or creates the container (by its labels, so a second
// run is a no-op), waits until the server really answers over TCP, creates
// the vector extension, validates the connection and records the backend in
// the registry. It speaks the Docker Engine API through
// github.com/moby/moby/client.
package provision

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hybridrag/storage-proxy/adapters"
)

var (
	errInvalid     = adapters.ErrInvalid
	errUnavailable = adapters.ErrUnavailable
	errNotFound    = adapters.ErrNotFound
)

// Validator checks a PostgreSQL connection string the way `proxy backend
// set` does before it is written into the registry.
type Validator interface {
	ValidatePostgres(ctx context.Context, dsn string) error
}

// Registrar records the provisioned backend in registry.yaml and, when db is
// not empty, switches that database to it.
type Registrar interface {
	RegisterPostgres(ctx context.Context, b Backend, db string) error
}

// Backend is what gets written into the registry. DSN carries no password:
// it names the 0600 password file (libpq's passfile parameter, which pgx
// reads too).
type Backend struct {
	Name         string `json:"name"`
	DSN          string `json:"dsn"`
	PasswordFile string `json:"password_file"`
}

// Options configures Docker.
type Options struct {
	// DB, when set, is the proxy database switched to the new backend.
	DB string
	// Port is the host port on 127.0.0.1 (default 5432); when it is taken a
	// free port is used and Result.Warnings says which.
	Port int
	// Name is the container name (default hybridrag-pg).
	Name string
	// Image is the PostgreSQL+pgvector image (default pgvector/pgvector:pg16).
	Image string
	// Volume is the named volume for the cluster (default <Name>-data).
	Volume string
	// Recreate replaces the container even when its spec is unchanged. The
	// volume is kept.
	Recreate bool
	// Timeout bounds the wait for PostgreSQL to answer (default 2m).
	Timeout time.Duration
	// DataDir is the proxy's data folder; the password file goes into
	// DataDir/secrets.
	DataDir string
	// DockerHost overrides DOCKER_HOST.
	DockerHost string
	// ShowPassword puts the password into Result.Password. Nothing else ever
	// prints it.
	ShowPassword bool
	// MinFreeBytes is the free-space warning threshold (default 2 GiB).
	MinFreeBytes int64
	// Out receives progress lines (pull progress, what was done). Never the
	// password. Nil discards them.
	Out io.Writer

	Postgres  Postgres  // default PGX
	Validator Validator // nil: skipped (Result.Warnings says so)
	Registrar Registrar // nil: the registry is not touched

	// pollInterval is the readiness poll period (tests shorten it).
	pollInterval time.Duration
}

// Actions reported in Result.Action.
const (
	ActionCreated   = "created"
	ActionRecreated = "recreated"
	ActionStarted   = "started"
	ActionReused    = "reused"
)

// Result says what Docker did.
type Result struct {
	Action       string        `json:"action"`
	Container    string        `json:"container"`
	ContainerID  string        `json:"container_id"`
	Image        string        `json:"image"`
	ImagePulled  bool          `json:"image_pulled"`
	Volume       string        `json:"volume"`
	Port         int           `json:"port"`
	DSN          string        `json:"dsn"`
	PasswordFile string        `json:"password_file"`
	Password     string        `json:"password,omitempty"`
	Backend      string        `json:"backend,omitempty"`
	Database     string        `json:"database,omitempty"`
	Registered   bool          `json:"registered"`
	Validated    bool          `json:"validated"`
	Warnings     []string      `json:"warnings,omitempty"`
	Duration     time.Duration `json:"duration_ns"`
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if o.Image == "" {
		o.Image = DefaultImage
	}
	if o.Volume == "" {
		o.Volume = o.Name + "-data"
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MinFreeBytes == 0 {
		o.MinFreeBytes = DefaultMinFreeBytes
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Postgres == nil {
		o.Postgres = PGX{}
	}
	if o.pollInterval <= 0 {
		o.pollInterval = 500 * time.Millisecond
	}
	return o
}

func (o Options) validate() error {
	if o.DataDir == "" {
		return errorf(errInvalid, CodeInvalidOption, "pass the proxy's data folder", "provision: no data folder for the password file")
	}
	if err := adapters.ValidateName("container name", o.Name); err != nil {
		return wrapf(errInvalid, CodeInvalidOption, "use letters, digits, '-' and '_'", err, "--name %q", o.Name)
	}
	if err := adapters.ValidateName("volume", o.Volume); err != nil {
		return wrapf(errInvalid, CodeInvalidOption, "use letters, digits, '-' and '_'", err, "--volume %q", o.Volume)
	}
	if o.DB != "" {
		if err := adapters.ValidateName("database", o.DB); err != nil {
			return err
		}
	}
	if o.Port < 1 || o.Port > 65535 {
		return errorf(errInvalid, CodeInvalidOption, "use a port between 1 and 65535", "--port %d is out of range", o.Port)
	}
	return nil
}

// BackendName is the registry name of the backend for container name.
func BackendName(container string) string { return "docker-" + container }

// DSN is the connection string for the container's cluster on port: no
// password, the password file named by passfile.
func DSN(port int, passfile string) string {
	q := url.Values{"sslmode": {"disable"}, "passfile": {passfile}}
	u := url.URL{Scheme: "postgres", User: url.User(PGUser), Host: "127.0.0.1:" + strconv.Itoa(port),
		Path: "/" + PGDatabase, RawQuery: q.Encode()}
	return u.String()
}

// Docker provisions (or finds) the managed PostgreSQL container and records
// it as a backend. Safe to run again: it reuses what exists.
func Docker(ctx context.Context, opts Options) (Result, error) {
	start := time.Now()
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return Result{}, err
	}
	abs, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return Result{}, fmt.Errorf("provision: data folder: %w", err)
	}
	opts.DataDir = abs
	eng, err := connect(ctx, dockerHost(opts.DockerHost))
	if err != nil {
		return Result{}, err
	}
	defer eng.cli.Close()
	p := &run{eng: eng, opts: opts, res: Result{Container: opts.Name, Image: opts.Image, Volume: opts.Volume}}
	if err := p.provision(ctx); err != nil {
		return Result{}, err
	}
	p.res.Duration = time.Since(start)
	fmt.Fprintf(opts.Out, "done in %s: %s container %s on 127.0.0.1:%d\n",
		p.res.Duration.Round(time.Millisecond), p.res.Action, opts.Name, p.res.Port)
	return p.res, nil
}

// warn records a warning and prints it.
func (p *run) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.res.Warnings = append(p.res.Warnings, msg)
	fmt.Fprintf(p.opts.Out, "warning: %s\n", msg)
}

func (p *run) say(format string, args ...any) {
	fmt.Fprintf(p.opts.Out, format+"\n", args...)
}
