package loadgen

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on
// every Linux this runs on.
const clockTicks = 100

// cpuSample is each matching process's CPU time so far, by pid.
type cpuSample map[int]procCPU

type procCPU struct {
	name string
	secs float64
}

// sampleCPU reads the user+system CPU time of every process whose
// /proc/<pid>/comm is one of names (nothing when names is empty or /proc
// is missing).
func sampleCPU(names []string) cpuSample {
	s := cpuSample{}
	if len(names) == 0 {
		return s
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil {
			continue
		}
		name := strings.TrimSpace(string(comm))
		if !slices.Contains(names, name) {
			continue
		}
		if secs, ok := procSeconds(filepath.Join(d, "stat")); ok {
			s[pid] = procCPU{name: name, secs: secs}
		}
	}
	return s
}

// procSeconds parses utime + stime (fields 14 and 15) of a stat file; the
// command name (field 2) may hold spaces, so fields count from its ")".
func procSeconds(path string) (float64, bool) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	i := strings.LastIndexByte(string(raw), ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(raw)[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (utime + stime) / clockTicks, true
}

// since returns the CPU seconds spent between before and s, by process
// name; a process born meanwhile counts whole.
func (s cpuSample) since(before cpuSample) map[string]float64 {
	out := map[string]float64{}
	for pid, p := range s {
		d := p.secs
		if b, ok := before[pid]; ok && b.name == p.name {
			d -= b.secs
		}
		out[p.name] += d
	}
	return out
}
