package farm

import (
	"testing"

	"github.com/beianwatch/beianwatch/checks"
	"github.com/beianwatch/beianwatch/monitor/entity"
	"github.com/beianwatch/beianwatch/monitor/inventory"
)

// TestEntities: the farm has multi-site entities, and exactly one of them
// is an empty-shell entity when the sites are judged as the farm expects
// the shell check to judge them; its inventory still loads without lint
// (the PSB provinces follow the new ICP numbers).
func TestEntities(t *testing.T) {
	for _, n := range []int{30, 200} {
		f, err := Generate(Options{Sites: n, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		var sites []entity.Site
		for _, s := range f.Sites {
			icp := s.ICP
			es := entity.Site{Domain: s.Domain, ICP: &icp, Entity: s.Entity, Status: s.Status}
			switch e := Expect(s, checks.CheckShell); e.Outcome {
			case checks.Pass:
				es.Shell = entity.Live
			case checks.Fail:
				es.Shell = entity.Confirmed
			}
			sites = append(sites, es)
		}
		multi, empty := 0, []string{}
		for _, v := range entity.Evaluate(sites) {
			if len(v.Domains) > 1 {
				multi++
			}
			if v.Outcome == entity.EmptyShell {
				empty = append(empty, v.Key)
			}
		}
		if len(empty) != 1 || empty[0] != f.EmptyShellEntity {
			t.Errorf("%d sites: empty-shell entities %v, want exactly %q", n, empty, f.EmptyShellEntity)
		}
		if multi < 3 {
			t.Errorf("%d sites: %d multi-site entities, want several", n, multi)
		}
		srv, err := Start(f, ServeConfig{})
		if err != nil {
			t.Fatal(err)
		}
		files, err := srv.WriteFiles(t.TempDir(), ConfigParams{Listen: "127.0.0.1:9999"}, "token")
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		inv, lint, err := inventory.Load(files.Inventory)
		if err != nil || len(lint) > 0 || inv.Len() != n {
			t.Errorf("%d sites: inventory %d sites, lint %v, %v", n, inv.Len(), lint, err)
		}
	}
}
