package provision

import (
	"context"
	"fmt"
	"io"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/hybridrag/storage-proxy/adapters"
)

// progressEvery throttles the pull's progress lines.
const progressEvery = time.Second

// ensureImage pulls image when the engine does not have it, writing plain
// progress lines to out (one per layer state change, and an overall
// percentage at most once a second), so it reads well in a terminal and in a
// log alike.
func ensureImage(ctx context.Context, cli *client.Client, image string, out io.Writer) (pulled bool, err error) {
	_, err = cli.ImageInspect(ctx, image)
	if err == nil {
		return false, nil
	}
	if !cerrdefs.IsNotFound(err) {
		return false, engineErr("inspect image "+image, err)
	}
	fmt.Fprintf(out, "pulling %s (not on the Docker host yet)\n", image)
	resp, err := cli.ImagePull(ctx, image, client.ImagePullOptions{})
	if err != nil {
		return false, pullFailed(image, err)
	}
	type layer struct{ current, total int64 }
	layers := map[string]*layer{}
	states := map[string]string{}
	last := time.Time{}
	for msg, err := range resp.JSONMessages(ctx) {
		if err != nil {
			return false, pullFailed(image, err)
		}
		if msg.Error != nil {
			return false, pullFailed(image, msg.Error)
		}
		if msg.ID == "" {
			if msg.Status != "" {
				fmt.Fprintf(out, "  %s\n", msg.Status)
			}
			continue
		}
		if msg.Progress != nil && msg.Progress.Total > 0 && msg.Status == "Downloading" {
			layers[msg.ID] = &layer{current: msg.Progress.Current, total: msg.Progress.Total}
		}
		if msg.Status == "Download complete" || msg.Status == "Pull complete" || msg.Status == "Already exists" {
			if l := layers[msg.ID]; l != nil {
				l.current = l.total
			}
		}
		if msg.Status != "Downloading" && msg.Status != "Extracting" && states[msg.ID] != msg.Status {
			states[msg.ID] = msg.Status
			fmt.Fprintf(out, "  %s: %s\n", msg.ID, msg.Status)
		}
		if time.Since(last) >= progressEvery && len(layers) > 0 {
			last = time.Now()
			var cur, tot int64
			for _, l := range layers {
				cur, tot = cur+l.current, tot+l.total
			}
			fmt.Fprintf(out, "  downloaded %s of %s (%d%%)\n", humanBytes(cur), humanBytes(tot), cur*100/tot)
		}
	}
	if len(layers) > 0 {
		var tot int64
		for _, l := range layers {
			tot += l.total
		}
		fmt.Fprintf(out, "  downloaded %s (100%%)\n", humanBytes(tot))
	}
	if _, err := cli.ImageInspect(ctx, image); err != nil {
		return false, pullFailed(image, fmt.Errorf("the pull ended but the image is not there: %w", err))
	}
	fmt.Fprintf(out, "pulled %s\n", image)
	return true, nil
}

func pullFailed(image string, cause error) *adapters.Error {
	return wrapf(adapters.ErrUnavailable, CodeImagePullFailed,
		fmt.Sprintf("check the network and registry access of the Docker host, or load the image by hand: on a machine "+
			"with access run `docker pull %[1]s && docker save %[1]s -o pgvector.tar`, copy pgvector.tar over, run "+
			"`docker load -i pgvector.tar`, then run this again (or pass --image with an image the host has)", image),
		cause, "could not pull the image %s", image)
}
