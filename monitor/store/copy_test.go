package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beianwatch/beianwatch/monitor/lifecycle"
)

// TestCopyToKeepsTheRecord moves a SQLite store that holds an open
// violation, a delivered notice with its attempt and the transitions into
// a new database (PostgreSQL when a test server is configured): the open
// violation, the notice history and the audit trail arrive as they were,
// ids included, and new rows get new ids.
func TestCopyToKeepsTheRecord(t *testing.T) {
	eachDB(t, func(t *testing.T, db testDB) {
		ctx := context.Background()
		src, err := Open(ctx, filepath.Join(t.TempDir(), "old.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		record(t, src, t0, fail("a.cn", "footer", "footer_link_missing"), pass("b.cn", "footer"))
		rec := record(t, src, t0.Add(time.Hour), fail("a.cn", "footer", "footer_link_missing"), pass("b.cn", "footer"))
		if len(rec.QueuedIDs()) != 1 {
			t.Fatalf("want one notice to copy, got %v", rec.QueuedIDs())
		}
		id := rec.QueuedIDs()[0]
		if _, err := src.BeginAttempt(ctx, id, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := src.FinishAttempt(ctx, Attempt{NoticeID: id, At: t0.Add(time.Hour), Channel: "webhook", StatusCode: 204},
			NoticeDelivered, time.Time{}); err != nil {
			t.Fatal(err)
		}
		dst, _ := openTest(t, db)
		n, err := src.CopyTo(ctx, dst)
		if err != nil {
			t.Fatal(err)
		}
		for table, want := range map[string]int64{"runs": 4, "results": 2, "violations": 1, "notices": 1, "transitions": 1, "notice_attempts": 1} {
			if n[table] != want {
				t.Errorf("copied %d rows of %s, want %d", n[table], table, want)
			}
		}
		vs, err := dst.Violations(ctx, ViolationFilter{Statuses: []lifecycle.Status{lifecycle.StatusOpen}})
		if err != nil || len(vs) != 1 || vs[0].Domain != "a.cn" || vs[0].Code != "footer_link_missing" || vs[0].Deadline.IsZero() {
			t.Fatalf("open violations after the copy: %+v, %v", vs, err)
		}
		before, _ := src.Violations(ctx, ViolationFilter{})
		if vs[0] != before[0] {
			t.Errorf("violation changed in the copy:\n got %+v\nwant %+v", vs[0], before[0])
		}
		got, err := dst.Notice(ctx, id)
		if err != nil || got.State != NoticeDelivered || got.Payload.Transitions[0].Code != "footer_link_missing" {
			t.Fatalf("notice after the copy: %+v, %v", got, err)
		}
		as, err := dst.Attempts(ctx, id)
		if err != nil || len(as) != 1 || as[0].StatusCode != 204 {
			t.Fatalf("attempts after the copy: %+v, %v", as, err)
		}
		trs, err := dst.Transitions(ctx, "a.cn", 10)
		srcTrs, _ := src.Transitions(ctx, "a.cn", 10)
		if err != nil || len(trs) != 1 || trs[0].NoticeID != id || trs[0].ID != srcTrs[0].ID {
			t.Fatalf("transitions after the copy: %+v, %v", trs, err)
		}
		// The history goes on with new ids.
		record(t, dst, t0.Add(2*time.Hour), pass("a.cn", "footer"), pass("b.cn", "footer"))
		if c := count(t, dst, `SELECT COUNT(DISTINCT id) FROM runs`); c != 6 {
			t.Errorf("%d distinct run ids after two more runs, want 6", c)
		}
		// A second copy into a database with a history is refused.
		if _, err := src.CopyTo(ctx, dst); err == nil || !strings.Contains(err.Error(), "already holds") {
			t.Errorf("copy into a database with a history: %v, want a refusal", err)
		}
	})
}
