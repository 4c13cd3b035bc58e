-- depends: 0004_worker
-- Every ingested batch updates its customers' counters and last-seen time, and the analysis worker
-- their average sentiment. With free space left on each page, PostgreSQL rewrites such a row on the
-- same page without touching the customers' four indexes (a HOT update: no indexed column changes).
-- Pages filled to 100 % force a new index entry in every index for every update.
ALTER TABLE customers SET (fillfactor = 80);
