package monitor

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/internal/freeport"

	"github.com/beianwatch/beianwatch/internal/testbin"
)

// BenchmarkIdleRSS100k starts a real `beianwatch run` holding 100,000
// sites and reports its resident memory once it is up and idle (the
// first dispatch enqueues nothing; see engine.Dispatch). Target: under
// 300 MB.
//
//	go test ./monitor -run '^$' -bench IdleRSS100k -benchtime 1x
func BenchmarkIdleRSS100k(b *testing.B) {
	dir := b.TempDir()
	inv := filepath.Join(dir, "sites.csv")
	var sb strings.Builder
	sb.WriteString("domain,icp,psb,status,entity,ip_ranges,contacts,owner_channel,owner_url,owner_secret_env,tags\n")
	for i := range 100_000 {
		fmt.Fprintf(&sb, "site%06d.example.cn,京ICP备%08d号-1,京公网安备110108%08d号,filed,示例科技有限公司%d,203.0.113.0/24,site_head:138%08d,webhook,https://hooks.example.cn/beian/%d,HOOK_SECRET,customer=c%d\n",
			i, 20000000+i, i, i, i, i, i%100)
	}
	if err := os.WriteFile(inv, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	addr := freeport.Addr(b)
	cfg := filepath.Join(dir, "beianwatch.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("listen: %s\nstorage: {driver: sqlite, path: %s}\ninventory: {path: %s}\n",
		addr, filepath.Join(dir, "bw.db"), inv)), 0o644)

	bin := testbin.Build(b, "./cmd/beianwatch")
	for range b.N {
		cmd := exec.Command(bin, "run", "--config", cfg)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		ready := false
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
				resp.Body.Close()
				if ready = resp.StatusCode == http.StatusOK; ready {
					break
				}
			}
		}
		if !ready {
			cmd.Process.Kill()
			b.Fatal("daemon with 100,000 sites never became ready")
		}
		time.Sleep(3 * time.Second) // first dispatch, settle
		rss, hwm := procMemMB(b, cmd.Process.Pid)
		cmd.Process.Kill()
		cmd.Wait()
		b.ReportMetric(rss, "MB-rss")
		b.ReportMetric(hwm, "MB-peak-rss")
	}
}

// procMemMB reads VmRSS and VmHWM of a process.
func procMemMB(b *testing.B, pid int) (rss, hwm float64) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm
}
