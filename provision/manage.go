package provision

import (
	"context"
	"sort"
	"strconv"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// ManageOptions selects the engine (and, for Stop and Remove, a container).
type ManageOptions struct {
	DockerHost string
	// Name is the managed container (default hybridrag-pg).
	Name string
	// DeleteVolume makes Remove delete the container's volume too.
	DeleteVolume bool
}

// Status is one managed container.
type Status struct {
	Name   string `json:"name"`
	ID     string `json:"id"`
	Image  string `json:"image"`
	State  string `json:"state"`
	Health string `json:"health,omitempty"`
	Status string `json:"status"`
	Port   int    `json:"port,omitempty"`
	Volume string `json:"volume"`
}

// List returns every container this proxy manages on the engine.
func List(ctx context.Context, opts ManageOptions) ([]Status, error) {
	eng, err := connect(ctx, dockerHost(opts.DockerHost))
	if err != nil {
		return nil, err
	}
	defer eng.cli.Close()
	f := make(client.Filters).Add("label", LabelManagedBy+"="+ManagedByValue)
	list, err := eng.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, engineErr("list containers", err)
	}
	out := make([]Status, 0, len(list.Items))
	for _, c := range list.Items {
		s := Status{Name: c.Labels[LabelInstance], ID: shortID(c.ID), Image: c.Image, State: string(c.State),
			Status: c.Status, Volume: c.Labels[LabelVolume]}
		if c.Health != nil {
			s.Health = string(c.Health.Status)
		}
		for _, p := range c.Ports {
			if p.PrivatePort == 5432 && p.PublicPort != 0 {
				s.Port = int(p.PublicPort)
			}
		}
		if s.Port == 0 {
			s.Port, _ = strconv.Atoi(c.Labels[LabelHostPort])
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Stop stops the managed container (restart policy unless-stopped keeps it
// stopped across Docker restarts until provisioned or started again).
func Stop(ctx context.Context, opts ManageOptions) error {
	return manage(ctx, opts, func(eng *engine, id string) error {
		timeout := 30
		if _, err := eng.cli.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &timeout}); err != nil {
			return engineErr("stop container "+opts.Name, err)
		}
		return nil
	})
}

// Remove removes the managed container; its volume only with DeleteVolume.
func Remove(ctx context.Context, opts ManageOptions) error {
	return manage(ctx, opts, func(eng *engine, id string) error {
		ins, err := eng.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		if err != nil {
			return engineErr("inspect container "+opts.Name, err)
		}
		if err := removeContainer(ctx, eng.cli, id); err != nil {
			return err
		}
		if !opts.DeleteVolume || ins.Container.Config == nil {
			return nil
		}
		vol := ins.Container.Config.Labels[LabelVolume]
		if vol == "" {
			return nil
		}
		if _, err := eng.cli.VolumeRemove(ctx, vol, client.VolumeRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			return engineErr("remove volume "+vol, err)
		}
		return nil
	})
}

func manage(ctx context.Context, opts ManageOptions, fn func(*engine, string) error) error {
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	eng, err := connect(ctx, dockerHost(opts.DockerHost))
	if err != nil {
		return err
	}
	defer eng.cli.Close()
	p := &run{eng: eng, opts: Options{Name: opts.Name}.withDefaults()}
	c, err := p.find(ctx, opts.Name)
	if err != nil {
		return err
	}
	if c == nil {
		return errorf(errNotFound, CodeNotFound, "`proxy provision status` lists the managed containers",
			"no container named %s is managed by this proxy", opts.Name)
	}
	if err := fn(eng, c.ID); err != nil {
		return err
	}
	return nil
}
