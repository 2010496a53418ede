-- Exemptions (豁免), the audit trail of operators' actions, the record
-- retention marks on runs, and what each delivery attempt sent.

-- An operator's decision that a site's code (or a whole check) must not
-- open violations until a date. Rows are never deleted: a removal is
-- recorded in removed_at/removed_by, so the record shows every exemption
-- that ever applied.
CREATE TABLE exemptions (
    id            INTEGER PRIMARY KEY,
    domain        TEXT    NOT NULL,
    check_name    TEXT    NOT NULL,            -- the check; with code '' the whole check
    code          TEXT    NOT NULL DEFAULT '', -- '' = every code of check_name
    until_at      INTEGER NOT NULL,            -- exclusive: from this instant it no longer applies
    reason        TEXT    NOT NULL,
    created_by    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    removed_at    INTEGER,
    removed_by    TEXT    NOT NULL DEFAULT '',
    removed_reason TEXT   NOT NULL DEFAULT '',
    expiry_logged INTEGER NOT NULL DEFAULT 0   -- 1 once its expiry is in the audit trail
);
CREATE INDEX exemptions_domain ON exemptions (domain, until_at);
CREATE INDEX exemptions_active ON exemptions (until_at) WHERE removed_at IS NULL;

-- Who did what, when and why: exemptions added, removed and expired, checks
-- requested from the console. Never deleted.
CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    actor   TEXT    NOT NULL,   -- a person's name, or 'system' for expiries
    action  TEXT    NOT NULL,   -- exemption_added, exemption_removed, exemption_expired, check_requested
    domain  TEXT    NOT NULL DEFAULT '',
    subject TEXT    NOT NULL DEFAULT '', -- what was acted on (exemption id and scope, checks)
    reason  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_domain ON audit_log (domain, at);

-- The record retention: a run that caused a transition (opened, reminded,
-- escalated, resolved, exempted) is part of a site's dossier and outlives
-- retention.history.
ALTER TABLE runs ADD COLUMN record INTEGER NOT NULL DEFAULT 0;

-- What an attempt sent: the rendered text and the signed headers (notice
-- id, timestamp, HMAC signature; never the secret).
ALTER TABLE notice_attempts ADD COLUMN sent_text TEXT NOT NULL DEFAULT '';
ALTER TABLE notice_attempts ADD COLUMN sent_headers TEXT NOT NULL DEFAULT '';

-- The violation status 'exempted' (an exemption closed the violation). The
-- status column has a CHECK constraint, which SQLite cannot alter: the
-- table is rebuilt with the wider constraint, in statements both SQLite
-- and PostgreSQL accept.
CREATE TABLE violations_next (
    domain           TEXT    NOT NULL,
    code             TEXT    NOT NULL,
    check_name       TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'open', 'escalated', 'resolved', 'exempted')),
    fails            INTEGER NOT NULL DEFAULT 0,
    passes           INTEGER NOT NULL DEFAULT 0,
    opened_at        INTEGER,
    deadline         INTEGER,
    last_notified_at INTEGER,
    next_due         INTEGER,
    message          TEXT    NOT NULL DEFAULT '',
    evidence         TEXT    NOT NULL DEFAULT '',
    updated_at       INTEGER NOT NULL,
    PRIMARY KEY (domain, code)
);
INSERT INTO violations_next
    (domain, code, check_name, status, fails, passes, opened_at, deadline, last_notified_at, next_due, message, evidence, updated_at)
    SELECT domain, code, check_name, status, fails, passes, opened_at, deadline, last_notified_at, next_due, message, evidence, updated_at
    FROM violations;
DROP TABLE violations;
ALTER TABLE violations_next RENAME TO violations;
CREATE INDEX violations_next_due ON violations (next_due) WHERE next_due IS NOT NULL;
CREATE INDEX violations_status ON violations (status, code);
