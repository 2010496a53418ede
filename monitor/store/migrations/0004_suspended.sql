-- Sites that left the inventory and have not come back yet. Leaving is
-- not a verdict (an export rewriting the file in place looks the same for
-- a few seconds): the site's violations keep their state and deadlines,
-- its notices wait, and it is withdrawn only when it has been gone for
-- inventory.withdraw_after.
CREATE TABLE suspended_sites (
    domain TEXT    PRIMARY KEY,
    since  INTEGER NOT NULL
);
