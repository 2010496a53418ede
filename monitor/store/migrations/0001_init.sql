-- Times are Unix microseconds (UTC) in INTEGER columns: they sort and
-- compare as numbers, and NULL means "never".

-- The latest result of each check on each site.
CREATE TABLE results (
    domain      TEXT    NOT NULL,
    check_name  TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    reason      TEXT    NOT NULL DEFAULT '',
    findings    TEXT    NOT NULL,          -- JSON array of checks.Finding
    details     TEXT    NOT NULL DEFAULT '{}',
    duration_ms INTEGER NOT NULL DEFAULT 0,
    checked_at  INTEGER NOT NULL,
    PRIMARY KEY (domain, check_name)
) WITHOUT ROWID;

-- Every run, bounded by a retention prune.
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    domain      TEXT    NOT NULL,
    check_name  TEXT    NOT NULL,
    outcome     TEXT    NOT NULL,
    reason      TEXT    NOT NULL DEFAULT '',
    findings    TEXT    NOT NULL,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    checked_at  INTEGER NOT NULL
);
CREATE INDEX runs_checked_at ON runs (checked_at);
CREATE INDEX runs_site ON runs (domain, check_name, checked_at);

-- Current lifecycle state per (domain, code).
CREATE TABLE violations (
    domain           TEXT    NOT NULL,
    code             TEXT    NOT NULL,
    check_name       TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'open', 'escalated', 'resolved')),
    fails            INTEGER NOT NULL DEFAULT 0,
    passes           INTEGER NOT NULL DEFAULT 0,
    opened_at        INTEGER,
    deadline         INTEGER,
    last_notified_at INTEGER,
    next_due         INTEGER,              -- when Tick would next change it; NULL unless open
    message          TEXT    NOT NULL DEFAULT '',
    evidence         TEXT    NOT NULL DEFAULT '',
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (domain, code)
) WITHOUT ROWID;
CREATE INDEX violations_next_due ON violations (next_due) WHERE next_due IS NOT NULL;
CREATE INDEX violations_status ON violations (status, code);

-- Notices: one per site per transition batch (and ops notices). The id is
-- the idempotency key receivers deduplicate on.
CREATE TABLE notices (
    id           TEXT    PRIMARY KEY,
    domain       TEXT    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('owner', 'ops')),
    payload      TEXT    NOT NULL,
    state        TEXT    NOT NULL CHECK (state IN ('queued', 'held', 'sending', 'delivered', 'dead', 'dropped')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_at      INTEGER,
    last_error   TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    delivered_at INTEGER
) WITHOUT ROWID;
CREATE INDEX notices_state ON notices (state);
CREATE INDEX notices_domain ON notices (domain, created_at);

-- Every transition ever: the provider's proof of what was found and when.
-- Never deleted.
CREATE TABLE transitions (
    id         INTEGER PRIMARY KEY,
    domain     TEXT    NOT NULL,
    code       TEXT    NOT NULL,
    from_state TEXT    NOT NULL,
    to_state   TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    at         INTEGER NOT NULL,
    reason     TEXT    NOT NULL DEFAULT '',
    message    TEXT    NOT NULL DEFAULT '',
    evidence   TEXT    NOT NULL DEFAULT '',
    opened_at  INTEGER,
    deadline   INTEGER,
    ops        INTEGER NOT NULL DEFAULT 0,
    notice_id  TEXT REFERENCES notices (id)
);
CREATE INDEX transitions_site ON transitions (domain, at);

-- Every delivery attempt of a notice: the proof the owner was told.
CREATE TABLE notice_attempts (
    id           INTEGER PRIMARY KEY,
    notice_id    TEXT    NOT NULL REFERENCES notices (id),
    at           INTEGER NOT NULL,
    channel      TEXT    NOT NULL DEFAULT '',
    status_code  INTEGER NOT NULL DEFAULT 0,
    duration_ms  INTEGER NOT NULL DEFAULT 0,
    body_excerpt TEXT    NOT NULL DEFAULT '',
    error        TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX notice_attempts_notice ON notice_attempts (notice_id, at);

-- Per check, the end of the last window whose due sites were enqueued.
CREATE TABLE dispatch_state (
    check_name TEXT    PRIMARY KEY,
    through    INTEGER NOT NULL
) WITHOUT ROWID;

-- Number-status lookups cost money; one number serves many sites.
CREATE TABLE phone_cache (
    e164       TEXT    PRIMARY KEY,
    status     TEXT    NOT NULL,
    checked_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
