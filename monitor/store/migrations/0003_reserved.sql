-- Reserved: version 3 belongs to a migration written in parallel on
-- another branch. Versions must run without gaps, so this empty file holds
-- the number until that migration replaces it.
SELECT 1;
