// Package dashboards holds beianwatch's Grafana dashboards, as JSON files
// importable through the Grafana UI (they ask for a Prometheus data source,
// ${DS_PROMETHEUS}) or provisioned from disk (see configs/grafana).
//
//	beianwatch-overview.json  compliance of all watched sites and daemon health
//	beianwatch-site.json      one site's violations against their deadlines
//
// The files are embedded so that tools can ship or serve them; the tests in
// this package check their structure and evaluate every query against a
// real Prometheus scraping a real daemon.
package dashboards

import "embed"

// FS holds the dashboard JSON files.
//
//go:embed *.json
var FS embed.FS
