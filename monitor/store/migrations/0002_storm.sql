-- The storm guard's memory, so that a restart during a storm neither
-- forgets the failures counted so far nor announces the storm again.

-- Conclusive runs per check and window bucket, added to by every recorded
-- batch (the daemon's and an audit --record's) in the batch's transaction.
CREATE TABLE storm_counts (
    check_name TEXT    NOT NULL,
    at         INTEGER NOT NULL,           -- start of the bucket
    checked    INTEGER NOT NULL,
    failed     INTEGER NOT NULL,
    PRIMARY KEY (check_name, at)
) WITHOUT ROWID;

-- Whether a storm is on, per check, as the last storm edge left it.
CREATE TABLE storm_state (
    check_name TEXT    PRIMARY KEY,
    storming   INTEGER NOT NULL,
    since      INTEGER NOT NULL
) WITHOUT ROWID;
