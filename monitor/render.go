package monitor

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/hybridrag/storage-proxy/migration"
)

// ANSI colours, used only when the output is a terminal.
const (
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiGreen  = "\x1b[32m"
	ansiBold   = "\x1b[1m"
	ansiReset  = "\x1b[0m"
)

// WriteTable prints statuses as a readable table; color adds ANSI colours
// (callers pass true only for a terminal).
func WriteTable(w io.Writer, sts []Status, color bool) error {
	paint := func(code, s string) string {
		if !color {
			return s
		}
		return code + s + ansiReset
	}
	var b strings.Builder
	for i, st := range sts {
		if i > 0 {
			b.WriteString("\n")
		}
		health := paint(ansiGreen, "healthy")
		if !st.Healthy {
			health = paint(ansiRed, "UNHEALTHY")
		}
		fmt.Fprintf(&b, "%s  (%s, %s)\n", paint(ansiBold, "database "+st.Name), st.Backend, health)
		if st.Error != "" {
			fmt.Fprintf(&b, "  error: %s\n", st.Error)
		}
		if st.Path != "" {
			fmt.Fprintf(&b, "  path: %s\n", st.Path)
		}
		if st.Postgres != nil {
			writePostgres(&b, st.Postgres, paint)
		} else {
			tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "  FILE\tSIZE\t\n")
			for _, f := range st.Files {
				mark := ""
				switch {
				case f.OverThreshold:
					mark = paint(ansiRed, "over "+Human(int64(st.Thresholds.FileThreshold)))
				case f.Approaching:
					mark = paint(ansiYellow, "near "+Human(int64(st.Thresholds.FileThreshold)))
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\n", f.File, f.Human, mark)
			}
			total := Human(st.TotalBytes) + " of " + Human(int64(st.Thresholds.TotalThreshold))
			if st.Thresholds.TotalThreshold > 0 && st.TotalBytes > int64(st.Thresholds.TotalThreshold) {
				total = paint(ansiRed, total)
			}
			fmt.Fprintf(tw, "  total\t%s\t\n", total)
			if err := tw.Flush(); err != nil {
				return err
			}
			if len(st.Files) == 0 {
				b.WriteString("  (no LightRAG files yet)\n")
			}
		}
		if lm := st.LiveMigration; lm != nil {
			writeLive(&b, lm, paint)
		}
		fmt.Fprintf(&b, "  thresholds: file %s, total %s, check every %ds, rate drop %d%%\n",
			Human(int64(st.Thresholds.FileThreshold)), Human(int64(st.Thresholds.TotalThreshold)),
			int64(st.Thresholds.Interval.Std().Seconds()), st.Thresholds.RateDropPercent)
		for _, wn := range st.Warnings {
			fmt.Fprintf(&b, "  %s %s\n", paint(ansiYellow, "WARNING "+wn.Code+":"), wn.Message)
			if wn.Command != "" {
				fmt.Fprintf(&b, "    run: %s\n", wn.Command)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writePostgres(b *strings.Builder, p *PostgresStatus, paint func(string, string) string) {
	if !p.Connected {
		fmt.Fprintf(b, "  postgres: %s %s\n", paint(ansiRed, "not connected:"), p.Error)
		return
	}
	fmt.Fprintf(b, "  postgres: connected, server %s, pgvector %s, database %s, latency %s ms\n",
		p.ServerVersion, orNone(p.PgvectorVersion), Human(p.DatabaseBytes), strconv.FormatFloat(p.LatencyMS, 'f', 2, 64))
	if len(p.Tables) == 0 {
		return
	}
	tw := tabwriter.NewWriter(b, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "  TABLE\tSIZE\tROWS (est.)\n")
	for _, t := range p.Tables {
		fmt.Fprintf(tw, "  %s\t%s\t%d\n", t.Name, Human(t.Bytes), t.RowsEstimate)
	}
	_ = tw.Flush() // writes to a strings.Builder cannot fail
}

func orNone(s string) string {
	if s == "" {
		return "not installed"
	}
	return s
}

// writeLive prints a database's live migration: phase, copy, verification,
// shadow reads and the clean window.
func writeLive(b *strings.Builder, lm *migration.LiveStatus, paint func(code, s string) string) {
	what := "live migration"
	if lm.Rollback {
		what = "live rollback"
	}
	fmt.Fprintf(b, "  %s %s: phase %s, %s", paint(ansiBold, what), lm.ID, lm.Phase, lm.State)
	if lm.Target != "" {
		fmt.Fprintf(b, " (%s -> %s)", lm.Source, lm.Target)
	}
	b.WriteString("\n")
	if lm.TotalRecords > 0 || lm.Records > 0 {
		eta := "unknown"
		if lm.ETASeconds >= 0 {
			eta = fmt.Sprintf("%.0fs", lm.ETASeconds)
		}
		fmt.Fprintf(b, "    backfill %d of %d records, ETA %s; %d verification rounds, %d records repaired\n",
			lm.Records, lm.TotalRecords, eta, lm.VerifyRounds, lm.Repaired)
	}
	if lm.Shadow.Compared > 0 || lm.Phase == "shadow" {
		mism := fmt.Sprint(lm.Shadow.Mismatches)
		if lm.Shadow.Mismatches > 0 {
			mism = paint(ansiRed, mism)
		}
		fmt.Fprintf(b, "    shadow reads: %d compared, %s mismatches; clean window %d of %d reads, %.0f of %.0f s\n",
			lm.Shadow.Compared, mism, lm.Shadow.WindowReads, lm.CleanWindow.Requests, lm.Shadow.WindowSeconds, lm.CleanWindow.Minutes*60)
	}
	if lm.TargetUnavailableSince != nil {
		fmt.Fprintf(b, "    %s since %s: %s\n", paint(ansiRed, "target unavailable"), lm.TargetUnavailableSince.Format("15:04:05"), lm.TargetError)
	}
	if lm.Error != nil {
		fmt.Fprintf(b, "    %s: %s\n", lm.Error.Code, lm.Error.Message)
	}
}
