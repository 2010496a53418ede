package store

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestSuspensions(t *testing.T) {
	eachDB(t, testSuspensions)
}

func testSuspensions(t *testing.T, db testDB) {
	ctx := context.Background()
	s, _ := openTest(t, db)
	// a.cn has an open violation and a queued notice; b.cn only passes.
	record(t, s, t0, fail("a.cn", "footer", "footer_link_missing"), pass("b.cn", "footer"))
	rec := record(t, s, t0.Add(time.Hour), fail("a.cn", "footer", "footer_link_missing"), pass("b.cn", "footer"))
	if len(rec.QueuedIDs()) != 1 {
		t.Fatalf("notices %v", rec.QueuedIDs())
	}
	tracked, err := s.TrackedDomains(ctx)
	if err != nil || !slices.Equal(tracked, []string{"a.cn"}) {
		t.Fatalf("tracked %v %v, want [a.cn]", tracked, err)
	}

	if err := s.Suspend(ctx, t0.Add(2*time.Hour), []string{"a.cn", "b.cn"}); err != nil {
		t.Fatal(err)
	}
	// Suspended again later: withdraw_after still counts from the first.
	if err := s.Suspend(ctx, t0.Add(5*time.Hour), []string{"a.cn"}); err != nil {
		t.Fatal(err)
	}
	sus, err := s.Suspensions(ctx)
	if err != nil || len(sus) != 2 || !sus[0].Since.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("suspensions %+v %v", sus, err)
	}

	back, err := s.Resume(ctx, []string{"b.cn", "c.cn"})
	if err != nil || len(back) != 1 || back[0].Domain != "b.cn" || !back[0].Since.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("resumed %+v %v, want b.cn only", back, err)
	}

	dropped, err := s.EndSuspension(ctx, "a.cn", "site removed from the inventory")
	if err != nil || dropped != 1 {
		t.Fatalf("dropped %d %v, want the queued notice", dropped, err)
	}
	n, err := s.Notice(ctx, rec.QueuedIDs()[0])
	if err != nil || n.State != NoticeDropped || n.LastError != "site removed from the inventory" {
		t.Errorf("notice after the suspension ended: %+v %v", n, err)
	}
	if sus, _ := s.Suspensions(ctx); len(sus) != 0 {
		t.Errorf("suspensions left: %+v", sus)
	}
}
