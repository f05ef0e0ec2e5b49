package provision

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
)

// Labels on every container and volume the proxy manages. Status, stop and
// remove find containers by LabelManagedBy only, so a container someone else
// named the same is never touched.
const (
	LabelManagedBy  = "io.hybridrag.managed-by"
	ManagedByValue  = "hybridrag-proxy"
	LabelInstance   = "io.hybridrag.instance"
	LabelDatabase   = "io.hybridrag.database"
	LabelVolume     = "io.hybridrag.volume"
	LabelSpecHash   = "io.hybridrag.spec-hash"
	LabelHostPort   = "io.hybridrag.host-port"
	labelSpecFormat = "io.hybridrag.spec-format"
)

// Defaults.
const (
	DefaultImage   = "pgvector/pgvector:pg16"
	DefaultName    = "hybridrag-pg"
	DefaultPort    = 5432
	DefaultTimeout = 2 * time.Minute
	// PGUser and PGDatabase are the role and database the image creates on
	// first start (POSTGRES_USER, POSTGRES_DB).
	PGUser     = "hybridrag"
	PGDatabase = "hybridrag"
	// DataPath is where the postgres images keep their cluster (PGDATA).
	DataPath = "/var/lib/postgresql/data"
	// specFormat changes when the spec's shape changes, so old containers
	// are recreated by a newer proxy.
	specFormat = "1"
)

var pgPort = network.MustParsePort("5432/tcp")

// spec is what decides a container's identity: a change in any field
// recreates the container (the volume is kept). The password is not part
// of it: it lives in the secrets file and in the volume's cluster.
type spec struct {
	Name          string `json:"name"`
	Image         string `json:"image"`
	Volume        string `json:"volume"`
	RequestedPort int    `json:"requested_port"`
	Format        string `json:"format"`
}

func (s spec) hash() string {
	b, _ := json.Marshal(s) // a struct of strings and ints always encodes
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// healthcheck probes over TCP on 127.0.0.1: during first-start
// initialization the image runs a temporary server on the unix socket only,
// so a socket probe would report healthy before the real server is up.
func healthcheck() *container.HealthConfig {
	return &container.HealthConfig{
		Test:          []string{"CMD", "pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", PGUser, "-d", PGDatabase},
		Interval:      10 * time.Second,
		Timeout:       5 * time.Second,
		StartPeriod:   60 * time.Second,
		StartInterval: time.Second,
		Retries:       5,
	}
}

// createOptions builds the container create request. password goes into the
// environment only (the image reads it once, when the volume is empty).
func (s spec) createConfig(password string, hostPort int) (*container.Config, *container.HostConfig) {
	labels := s.labels(hostPort)
	cfg := &container.Config{
		Image: s.Image,
		Env: []string{
			"POSTGRES_USER=" + PGUser,
			"POSTGRES_DB=" + PGDatabase,
			"POSTGRES_PASSWORD=" + password,
			"PGDATA=" + DataPath,
		},
		Labels:       labels,
		Healthcheck:  healthcheck(),
		ExposedPorts: network.PortSet{pgPort: {}},
	}
	host := &container.HostConfig{
		Mounts:        []mount.Mount{{Type: mount.TypeVolume, Source: s.Volume, Target: DataPath}},
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
		PortBindings: network.PortMap{pgPort: {{
			HostIP:   netip.MustParseAddr("127.0.0.1"),
			HostPort: strconv.Itoa(hostPort),
		}}},
	}
	return cfg, host
}

func (s spec) labels(hostPort int) map[string]string {
	return map[string]string{
		LabelManagedBy:  ManagedByValue,
		LabelInstance:   s.Name,
		LabelDatabase:   PGDatabase,
		LabelVolume:     s.Volume,
		LabelSpecHash:   s.hash(),
		LabelHostPort:   strconv.Itoa(hostPort),
		labelSpecFormat: specFormat,
	}
}

// hostPortOf reads the published port from an inspected container.
func hostPortOf(c container.InspectResponse) (int, error) {
	if c.HostConfig != nil {
		for _, b := range c.HostConfig.PortBindings[pgPort] {
			if p, err := strconv.Atoi(b.HostPort); err == nil && p > 0 {
				return p, nil
			}
		}
	}
	if c.Config != nil {
		if p, err := strconv.Atoi(c.Config.Labels[LabelHostPort]); err == nil && p > 0 {
			return p, nil
		}
	}
	return 0, fmt.Errorf("container %s publishes no port for 5432/tcp", c.Name)
}
