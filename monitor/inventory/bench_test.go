package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeBigCSV writes an inventory of n sites using every column, the way a
// provider's export looks.
func writeBigCSV(tb testing.TB, dir string, n int) string {
	tb.Helper()
	var b strings.Builder
	b.WriteString(strings.Join(fields, ",") + "\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "s%06d.example.cn,京ICP备20%08d号-%d,京公网安备11010802%06d号,filed,示例科技%d有限公司,,"+
			"203.0.113.%d-203.0.113.%d;2001:db8:%x::/64,site_head:138%08d;entity_head:010-6%07d,"+
			"webhook,https://hooks.example.cn/s%d,HOOK_SECRET_%d,customer=c%d;region=bj\n",
			i, i, i%9+1, i, i, i%200, i%200+50, i%65536, i, i, i, i%1000, i%1000)
	}
	p := filepath.Join(dir, "big.csv")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// BenchmarkLoad100k loads a 100,000-site CSV; the requirement is at most 5 s.
func BenchmarkLoad100k(b *testing.B) {
	const n = 100_000
	p := writeBigCSV(b, b.TempDir(), n)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		inv, lint, err := Load(p)
		if err != nil || len(lint) > 0 || inv.Len() != n {
			b.Fatalf("load: %v, %d lint (%v), %d sites", err, len(lint), lint[:min(3, len(lint))], inv.Len())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/n, "µs/site")
}
