// Command openbench measures how fast the JSON adapter opens a LightRAG
// folder and how much memory it takes: it opens the folder, loads every
// namespace (Namespaces counts them all), and prints the folder size, the
// elapsed time, the throughput and the process's peak RSS (VmHWM).
//
//	go run ./bench/openbench DIR
//
// The folder is opened read-only in effect: nothing is written, so the files
// stay byte-identical (Close flushes only changed namespaces).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	jsonadapter "github.com/hybridrag/storage-proxy/adapters/json"
)

type result struct {
	Dir         string  `json:"dir"`
	FolderBytes int64   `json:"folder_bytes"`
	Namespaces  int     `json:"namespaces"`
	Records     int64   `json:"records"`
	Seconds     float64 `json:"seconds"`
	MBPerSec    float64 `json:"mb_per_s"`
	PeakRSSMB   float64 `json:"peak_rss_mb"`
	RSSRatio    float64 `json:"peak_rss_over_folder"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: openbench DIR")
		os.Exit(2)
	}
	if err := run(context.Background(), os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "openbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir string) error {
	size, err := folderBytes(dir)
	if err != nil {
		return err
	}
	start := time.Now()
	b, err := jsonadapter.Open(ctx, jsonadapter.Config{Dir: dir})
	if err != nil {
		return err
	}
	infos, err := b.Namespaces(ctx)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	r := result{Dir: dir, FolderBytes: size, Namespaces: len(infos), Seconds: elapsed.Seconds()}
	for _, in := range infos {
		if in.Error != "" {
			return fmt.Errorf("namespace %s: %s", in.Namespace, in.Error)
		}
		r.Records += in.Records
	}
	r.MBPerSec = float64(size) / 1e6 / elapsed.Seconds()
	peak, err := peakRSS()
	if err != nil {
		return err
	}
	r.PeakRSSMB = float64(peak) / 1e6
	r.RSSRatio = float64(peak) / float64(size)
	if err := b.Close(ctx); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(r)
}

// folderBytes sums the LightRAG files of dir (not recursive).
func folderBytes(dir string) (int64, error) {
	var total int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != dir {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	return total, err
}

// peakRSS reads VmHWM (peak resident set) from /proc/self/status.
func peakRSS() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("peak RSS: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int64
		if n, _ := fmt.Sscanf(sc.Text(), "VmHWM: %d kB", &kb); n == 1 {
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("peak RSS: VmHWM not found in /proc/self/status")
}
