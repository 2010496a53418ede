-- One row the readiness probe rewrites: /readyz proves the store can still
-- write (a full disk fails the commit) rather than trusting the last
-- write that happened to succeed.
CREATE TABLE store_health (
    id     INTEGER PRIMARY KEY,
    probed INTEGER NOT NULL
);
