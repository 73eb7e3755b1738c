package faults_test

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

// The table of docs/reliability.md lives between these markers; the rest
// of the page is prose kept by hand.
const (
	reportBegin = "<!-- faults:begin (written by go test ./internal/faults/ with ORDEM_WRITE_RELIABILITY=1) -->"
	reportEnd   = "<!-- faults:end -->"
	reportPath  = "../../docs/reliability.md"
)

// writeReliabilityDoc rewrites docs/reliability.md's table from the rows
// this run recorded, when ORDEM_WRITE_RELIABILITY=1 and every fault ran.
func writeReliabilityDoc() error {
	if os.Getenv("ORDEM_WRITE_RELIABILITY") != "1" {
		return nil
	}
	if len(rows) < 8 {
		return fmt.Errorf("faults: %d of 8 faults recorded: run the whole suite to rewrite %s", len(rows), reportPath)
	}
	raw, err := os.ReadFile(reportPath)
	if err != nil {
		return fmt.Errorf("faults: read %s: %w", reportPath, err)
	}
	doc := string(raw)
	i, j := strings.Index(doc, reportBegin), strings.Index(doc, reportEnd)
	if i < 0 || j < i {
		return fmt.Errorf("faults: %s has no table markers", reportPath)
	}
	var b strings.Builder
	b.WriteString(reportBegin + "\n\n")
	b.WriteString("| fault | in flight | what clients saw | time to recover | money lost | what operators do |\n")
	b.WriteString("| --- | --- | --- | --- | ---: | --- |\n")
	// The tests finish in any order; the table keeps one.
	sort.Slice(rows, func(i, j int) bool { return rows[i].fault < rows[j].fault })
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.fault, r.inFlight, r.seen, r.recovery, r.moneyLost, r.operators)
	}
	b.WriteString("\n")
	doc = doc[:i] + b.String() + doc[j:]
	if err := os.WriteFile(reportPath, []byte(doc), 0o644); err != nil {
		return fmt.Errorf("faults: write %s: %w", reportPath, err)
	}
	return nil
}
