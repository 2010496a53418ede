package syncbuf

import (
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { fmt.Fprintf(&b, "line %02d\n", i) })
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 20 || b.Len() != 20*len("line 00\n") {
		t.Errorf("%d lines, %d bytes: %q", n, b.Len(), b.String())
	}
}
