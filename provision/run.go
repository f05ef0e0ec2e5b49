package provision

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// run is one provisioning run's state.
type run struct {
	eng  *engine
	opts Options
	res  Result
}

func (p *run) provision(ctx context.Context) error {
	o := p.opts
	if !p.eng.local {
		p.warn("the Docker engine at %s is not on this machine: the container's port is published on that host's "+
			"127.0.0.1, which this proxy cannot reach unless it runs there too", p.eng.host)
	}
	if w := diskWarning(ctx, p.eng.cli, p.eng.local, o.MinFreeBytes); w != "" {
		p.warn("%s", w)
	}
	want := spec{Name: o.Name, Image: o.Image, Volume: o.Volume, RequestedPort: o.Port, Format: specFormat}
	existing, err := p.find(ctx, o.Name)
	if err != nil {
		return err
	}
	passfile := passfilePath(o.DataDir, o.Volume)
	p.res.PasswordFile = passfile

	var id string
	switch {
	case existing != nil && !o.Recreate && existing.Labels[LabelSpecHash] == want.hash():
		id, err = p.reuse(ctx, existing)
	default:
		if existing != nil {
			why := "--recreate was given"
			if !o.Recreate {
				why = "its spec changed (image, volume or port)"
			}
			p.say("recreating container %s: %s; the volume %s is kept", o.Name, why, existing.Labels[LabelVolume])
			if err := p.removeContainer(ctx, existing.ID); err != nil {
				return err
			}
		}
		id, err = p.create(ctx, want, passfile)
		if err == nil && existing != nil {
			p.res.Action = ActionRecreated
		}
	}
	if err != nil {
		return err
	}
	p.res.ContainerID = id
	p.res.DSN = DSN(p.res.Port, passfile)
	if err := p.waitReady(ctx, id); err != nil {
		return err
	}
	if err := o.Postgres.CreateVector(ctx, p.res.DSN); err != nil {
		return wrapf(errUnavailable, CodeNotReady, "check the image has pgvector (the default pgvector/pgvector:pg16 does)",
			err, "create the vector extension in container %s", o.Name)
	}
	p.say("extension vector is ready")
	if o.Validator != nil {
		if err := o.Validator.ValidatePostgres(ctx, p.res.DSN); err != nil {
			return wrapf(errInvalid, CodeValidationFailed, "the container runs; fix what the check says and run this again",
				err, "the provisioned database did not pass the backend checks")
		}
		p.res.Validated = true
	} else {
		p.warn("backend checks skipped: this build has no backend validator")
	}
	p.res.Backend = BackendName(o.Name)
	if o.Registrar != nil {
		b := Backend{Name: p.res.Backend, DSN: p.res.DSN, PasswordFile: passfile}
		if err := o.Registrar.RegisterPostgres(ctx, b, o.DB); err != nil {
			return fmt.Errorf("record backend %s in the registry: %w", b.Name, err)
		}
		p.res.Registered = true
		p.res.Database = o.DB
	}
	if o.ShowPassword {
		pw, err := readPassfile(passfile)
		if err != nil {
			return fmt.Errorf("read password file: %w", err)
		}
		p.res.Password = pw
	}
	return nil
}

// find returns the managed container named name, or nil.
func (p *run) find(ctx context.Context, name string) (*container.Summary, error) {
	f := make(client.Filters).Add("label", LabelManagedBy+"="+ManagedByValue, LabelInstance+"="+name)
	list, err := p.eng.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, engineErr("list containers", err)
	}
	if len(list.Items) == 0 {
		return nil, nil
	}
	if len(list.Items) > 1 {
		p.warn("%d managed containers carry instance label %s; using %s", len(list.Items), name, list.Items[0].ID)
	}
	c := list.Items[0]
	return &c, nil
}

// reuse starts the container when it is not running and reads its port.
func (p *run) reuse(ctx context.Context, c *container.Summary) (string, error) {
	ins, err := p.eng.cli.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
	if err != nil {
		return "", engineErr("inspect container "+p.opts.Name, err)
	}
	port, err := hostPortOf(ins.Container)
	if err != nil {
		return "", wrapf(errUnavailable, CodeDockerError, "run again with --recreate", err, "reuse container %s", p.opts.Name)
	}
	p.res.Port = port
	if _, err := os.Stat(p.res.PasswordFile); err != nil {
		return "", p.secretMissing()
	}
	state := ins.Container.State
	if state != nil && state.Running && !state.Paused {
		p.res.Action = ActionReused
		p.say("container %s is running on 127.0.0.1:%d; leaving it as it is", p.opts.Name, port)
		return c.ID, nil
	}
	p.say("starting the stopped container %s", p.opts.Name)
	if _, err := p.eng.cli.ContainerStart(ctx, c.ID, client.ContainerStartOptions{}); err != nil {
		return "", engineErr("start container "+p.opts.Name, err)
	}
	p.res.Action = ActionStarted
	return c.ID, nil
}

func (p *run) secretMissing() error {
	return errorf(errInvalid, CodeSecretMissing,
		fmt.Sprintf("restore %s from a backup, or start from an empty cluster with `proxy provision remove --name %s "+
			"--delete-volume` (this deletes the data), or use another --volume", p.res.PasswordFile, p.opts.Name),
		"the volume %s already holds a cluster but its password file %s is missing", p.opts.Volume, p.res.PasswordFile)
}

// create makes sure the image and volume exist, then creates and starts the
// container on a free port.
func (p *run) create(ctx context.Context, want spec, passfile string) (string, error) {
	o := p.opts
	pulled, err := ensureImage(ctx, p.eng.cli, o.Image, o.Out)
	if err != nil {
		return "", err
	}
	p.res.ImagePulled = pulled
	volExisted, err := p.ensureVolume(ctx)
	if err != nil {
		return "", err
	}
	if volExisted {
		if _, err := os.Stat(passfile); err != nil {
			return "", p.secretMissing()
		}
	}
	password, _, err := loadOrCreatePassword(passfile)
	if err != nil {
		return "", err
	}
	// Two tries: the port can be taken between our check and the engine's
	// bind ("port is already allocated"); the second try takes a fresh one.
	for attempt := 0; ; attempt++ {
		port, moved, err := choosePort(o.Port)
		if err != nil {
			return "", err
		}
		if attempt > 0 && !moved {
			if port, err = freePort(); err != nil {
				return "", err
			}
			moved = true
		}
		if moved {
			p.warn("port %d on 127.0.0.1 is taken; using port %d instead", o.Port, port)
		}
		cfg, host := want.createConfig(password, port)
		created, err := p.eng.cli.ContainerCreate(ctx, client.ContainerCreateOptions{Name: o.Name, Config: cfg, HostConfig: host})
		if err != nil {
			if cerrdefs.IsConflict(err) {
				return "", wrapf(errInvalid, CodeNameConflict,
					fmt.Sprintf("a container named %s exists that this proxy does not manage: pick another --name, or remove it "+
						"(docker rm %s) if it is not needed", o.Name, o.Name), err, "container name %s is taken", o.Name)
			}
			return "", engineErr("create container "+o.Name, err)
		}
		for _, w := range created.Warnings {
			p.warn("docker: %s", w)
		}
		p.say("created container %s (%s) with volume %s on 127.0.0.1:%d", o.Name, shortID(created.ID), o.Volume, port)
		_, err = p.eng.cli.ContainerStart(ctx, created.ID, client.ContainerStartOptions{})
		if err == nil {
			p.res.Port = port
			p.res.Action = ActionCreated
			return created.ID, nil
		}
		if attempt == 0 && portInUse(err) {
			p.warn("the engine could not bind port %d (%v); trying another port", port, err)
			if rerr := p.removeContainer(ctx, created.ID); rerr != nil {
				return "", rerr
			}
			continue
		}
		return "", engineErr("start container "+o.Name, err)
	}
}

func portInUse(err error) bool {
	s := err.Error()
	return strings.Contains(s, "port is already allocated") || strings.Contains(s, "address already in use")
}

// ensureVolume creates the named volume when missing and reports whether it
// was there already.
func (p *run) ensureVolume(ctx context.Context) (bool, error) {
	_, err := p.eng.cli.VolumeInspect(ctx, p.opts.Volume, client.VolumeInspectOptions{})
	if err == nil {
		p.say("using the existing volume %s", p.opts.Volume)
		return true, nil
	}
	if !cerrdefs.IsNotFound(err) {
		return false, engineErr("inspect volume "+p.opts.Volume, err)
	}
	_, err = p.eng.cli.VolumeCreate(ctx, client.VolumeCreateOptions{Name: p.opts.Volume, Labels: map[string]string{
		LabelManagedBy: ManagedByValue, LabelInstance: p.opts.Name,
	}})
	if err != nil {
		return false, engineErr("create volume "+p.opts.Volume, err)
	}
	p.say("created volume %s", p.opts.Volume)
	return false, nil
}

// removeContainer stops and removes a container; named volumes stay.
func (p *run) removeContainer(ctx context.Context, id string) error {
	return removeContainer(ctx, p.eng.cli, id)
}

func removeContainer(ctx context.Context, cli *client.Client, id string) error {
	timeout := 30
	if _, err := cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &timeout}); err != nil && !cerrdefs.IsNotFound(err) {
		return engineErr("stop container "+shortID(id), err)
	}
	if _, err := cli.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
		return engineErr("remove container "+shortID(id), err)
	}
	return nil
}

// waitReady polls until the container runs and PostgreSQL answers a query
// over TCP on the published port, or the timeout passes.
func (p *run) waitReady(ctx context.Context, id string) error {
	o := p.opts
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	p.say("waiting for PostgreSQL to accept connections on 127.0.0.1:%d (up to %s)", p.res.Port, o.Timeout)
	var lastErr error
	health := "unknown"
	for {
		ins, err := p.eng.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		switch {
		case err != nil && ctx.Err() == nil:
			return engineErr("inspect container "+o.Name, err)
		case err == nil && ins.Container.State != nil:
			st := ins.Container.State
			if st.Health != nil {
				health = string(st.Health.Status)
			}
			if st.Status == container.StateExited || st.Status == container.StateDead {
				return errorf(errUnavailable, CodeContainerExited,
					fmt.Sprintf("see why with `docker logs %s`; a volume initialized by another PostgreSQL major version "+
						"needs --image of that version or a new --volume", o.Name),
					"container %s exited (code %d) before PostgreSQL was ready", o.Name, st.ExitCode)
			}
			if st.Running {
				lastErr = o.Postgres.Check(ctx, p.res.DSN)
				if lastErr == nil {
					p.say("PostgreSQL answers on 127.0.0.1:%d (container health: %s)", p.res.Port, health)
					return nil
				}
				if errors.Is(lastErr, ErrPermanent) {
					return wrapf(errInvalid, CodeSecretMissing,
						fmt.Sprintf("the volume %s was initialized with another password; restore its password file %s, "+
							"or remove the volume (proxy provision remove --delete-volume) to start empty", o.Volume, p.res.PasswordFile),
						lastErr, "PostgreSQL in container %s rejected the stored password", o.Name)
				}
			}
		}
		select {
		case <-ctx.Done():
			if lastErr == nil {
				lastErr = ctx.Err()
			}
			return wrapf(errUnavailable, CodeNotReady,
				fmt.Sprintf("see `docker logs %s`; on a slow machine raise --timeout; the container keeps running and a "+
					"second run picks it up", o.Name),
				lastErr, "PostgreSQL in container %s did not accept connections on 127.0.0.1:%d within %s (container health: %s)",
				o.Name, p.res.Port, o.Timeout, health)
		case <-time.After(o.pollInterval):
		}
	}
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
