package provision

import (
	"context"
	"fmt"
	"strings"
	"syscall"

	"github.com/moby/moby/client"
)

// DefaultMinFreeBytes is the free space under the engine's data root below
// which provisioning warns: an empty cluster takes ~40 MB, but a LightRAG
// database with embeddings grows to gigabytes.
const DefaultMinFreeBytes = 2 << 30

// diskWarning returns a warning when the engine's data root has less than
// min bytes free. The Engine API reports no free space (docker system df
// reports usage only), so this reads the data root from /info and measures
// it with statfs when the engine is local; for a remote engine it says it
// cannot tell. An empty string means no warning.
func diskWarning(ctx context.Context, cli *client.Client, local bool, min int64) string {
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return fmt.Sprintf("could not read the Docker engine's info to check free disk space: %v", err)
	}
	root := info.Info.DockerRootDir
	if root == "" || !local {
		return ""
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(root, &st); err != nil {
		// Docker Desktop keeps the data root inside a VM: not visible here.
		return ""
	}
	free := int64(st.Bavail) * int64(st.Bsize)
	if free >= min {
		return ""
	}
	return fmt.Sprintf("the Docker host has only %s free under %s (less than %s): the database volume may fill the disk; "+
		"free space (docker system prune) or move Docker's data root", humanBytes(free), root, humanBytes(min))
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %siB", float64(n)/float64(div), strings.Split("K M G T P E", " ")[exp])
}
