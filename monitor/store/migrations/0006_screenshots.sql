-- Evidence of failing rendered footers: a PNG of the footer region as the
-- headless browser showed it (at most 200 KiB), kept with the run it
-- belongs to and pruned with it (routine runs after retention.history,
-- record runs after retention.record).
CREATE TABLE screenshots (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL,           -- runs.id
    domain     TEXT    NOT NULL,
    check_name TEXT    NOT NULL,
    taken_at   INTEGER NOT NULL,           -- the run's checked_at
    png        BLOB    NOT NULL
);
CREATE INDEX screenshots_site ON screenshots (domain, check_name, taken_at);
CREATE INDEX screenshots_run ON screenshots (run_id);
