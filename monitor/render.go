package monitor

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
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
