// Command rssbench measures the proxy's resident memory (RSS) before, during
// and after a burst of large requests (issue 14 #10): it starts the proxy
// binary on 127.0.0.1 with a fresh data folder, records the idle RSS, sends
// four concurrent 50 MiB bodies (kv get with 2.5M ids: refused with
// limit_exceeded after decoding) and four gets of 100,000 ids (the limit)
// against 100,000 stored records, then follows the RSS while the proxy idles.
//
//	go build -o /tmp/proxy ./cmd/proxy && go run ./bench/rssbench -bin /tmp/proxy
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	bin := flag.String("bin", "", "the proxy binary (go build -o /tmp/proxy ./cmd/proxy)")
	idle := flag.Duration("follow", 30*time.Second, "how long to follow the RSS after the load")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "rssbench: -bin is required")
		os.Exit(2)
	}
	if err := run(*bin, *idle); err != nil {
		fmt.Fprintln(os.Stderr, "rssbench:", err)
		os.Exit(1)
	}
}

func run(bin string, follow time.Duration) error {
	dir, err := os.MkdirTemp("", "rssbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "serve", "--listen", addr, "--data", filepath.Join(dir, "data"), "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	base := "http://" + addr
	if err := waitHealthy(base); err != nil {
		return err
	}
	pid := cmd.Process.Pid

	// 100,000 stored records of about 200 bytes, written in batches.
	const stored = 100_000
	for i := 0; i < stored; i += 10_000 {
		recs := map[string]any{}
		for j := i; j < i+10_000; j++ {
			recs[fmt.Sprintf("doc-%07d", j)] = map[string]any{"content": strings.Repeat("x", 180)}
		}
		if _, err := post(base+"/v1/databases/default/kv/full_docs/upsert", map[string]any{"records": recs}); err != nil {
			return err
		}
	}
	if _, err := post(base+"/v1/databases/default/flush", nil); err != nil {
		return err
	}
	time.Sleep(follow / 3) // let the writes' garbage settle and be released
	baseline := rss(pid, "VmRSS")
	fmt.Printf("baseline RSS (idle, %d records stored): %.1f MB\n", stored, baseline)

	// Four concurrent 50 MiB bodies of ids.
	var big bytes.Buffer
	big.WriteString(`{"ids":[`)
	for i := 0; big.Len() < 50<<20; i++ {
		if i > 0 {
			big.WriteByte(',')
		}
		fmt.Fprintf(&big, `"id-%016d"`, i)
	}
	big.WriteString(`]}`)
	start := time.Now()
	var wg sync.WaitGroup
	codes := make([]string, 4)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _ = postRaw(base+"/v1/databases/default/kv/full_docs/get", big.Bytes())
		}()
	}
	wg.Wait()
	fmt.Printf("4 x %.0f MiB bodies of ids, concurrent: %s in %v\n", float64(big.Len())/(1<<20), strings.Join(codes, ", "), time.Since(start).Round(time.Millisecond))
	// Four gets of 100,000 ids (the per-call limit), one after the other.
	ids := make([]string, stored)
	for i := range ids {
		ids[i] = fmt.Sprintf("doc-%07d", i)
	}
	body, _ := json.Marshal(map[string]any{"ids": ids})
	for range 4 {
		code, n := postRaw(base+"/v1/databases/default/kv/full_docs/get", body)
		fmt.Printf("get of %d ids: %s, %.1f MB answered\n", len(ids), code, float64(n)/1e6)
	}
	peak := rss(pid, "VmHWM")
	after := rss(pid, "VmRSS")
	fmt.Printf("peak RSS: %.1f MB; right after the load: %.1f MB\n", peak, after)
	end := time.Now()
	for time.Since(end) < follow {
		time.Sleep(time.Second)
		fmt.Printf("  +%2.0fs idle: %.1f MB\n", time.Since(end).Seconds(), rss(pid, "VmRSS"))
	}
	final := rss(pid, "VmRSS")
	fmt.Printf("RESULT baseline %.1f MB, peak %.1f MB, after %v idle %.1f MB (%.2f x baseline)\n",
		baseline, peak, follow, final, final/baseline)
	return nil
}

func waitHealthy(base string) error {
	for range 200 {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("the proxy did not become healthy")
}

func post(url string, body any) (string, error) {
	data := []byte("{}")
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return "", err
		}
	}
	code, _ := postRaw(url, data)
	if code != "200" {
		return code, fmt.Errorf("POST %s: %s", url, code)
	}
	return code, nil
}

// postRaw returns the status and the answer's size (or the error code).
func postRaw(url string, body []byte) (string, int64) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "error: " + err.Error(), 0
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var eb struct{ Code string }
		_ = json.NewDecoder(resp.Body).Decode(&eb)
		return strconv.Itoa(resp.StatusCode) + " " + eb.Code, 0
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	return "200", n
}

// rss reads a /proc/PID/status line (VmRSS, VmHWM) in MB.
func rss(pid int, key string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024
		}
	}
	return -1
}
