package render

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// groupMembers lists the processes of process group pgid, from /proc.
func groupMembers(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if g, ok := procPgid(pid); ok && g == pgid {
			out = append(out, pid)
		}
	}
	return out
}

// procPgid reads a process's group from /proc/PID/stat (field 5, after
// the parenthesised command, which may itself hold spaces).
func procPgid(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 || f[0] == "Z" {
		return 0, false // a zombie is gone, only not yet reaped
	}
	g, err := strconv.Atoi(f[2])
	return g, err == nil
}

// procMem reads a process's resident set size and its proportional set
// size (shared pages divided among their sharers) in bytes. Summed over
// a browser tree, RSS counts the pages its processes share many times;
// PSS counts them once.
func procMem(pid int) (rss, pss int64) {
	return procField(pid, "status", "VmRSS:"), procField(pid, "smaps_rollup", "Pss:")
}

func procField(pid int, file, key string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/" + file)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n << 10
			}
		}
	}
	return 0
}

// waitGroupGone kills and waits until process group pgid has no live
// member, up to limit: children forked while the group was being killed
// get the signal too.
func waitGroupGone(pgid int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if len(groupMembers(pgid)) == 0 {
			return
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		time.Sleep(20 * time.Millisecond)
	}
}

// TreeStats is the size of the browser process trees alive now.
type TreeStats struct {
	Browsers  int   // process groups (browser trees)
	Processes int   // processes in them
	RSS       int64 // resident bytes, summed (shared pages counted in each process)
	PSS       int64 // proportional resident bytes, summed (shared pages counted once)
}

// Stats measures the browser trees this renderer owns now.
func (r *Renderer) Stats() TreeStats {
	r.mu.Lock()
	var groups []int
	if r.cur != nil && r.cur.pgid() > 0 {
		groups = append(groups, r.cur.pgid())
	}
	r.mu.Unlock()
	var st TreeStats
	for _, g := range groups {
		members := groupMembers(g)
		if len(members) == 0 {
			continue
		}
		st.Browsers++
		st.Processes += len(members)
		for _, p := range members {
			rss, pss := procMem(p)
			st.RSS += rss
			st.PSS += pss
		}
	}
	return st
}
