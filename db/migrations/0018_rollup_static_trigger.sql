-- depends: 0015_customer_prefix_lookup 0017_worker_backlog
-- The rollup trigger with its statements written into the function body instead of run by EXECUTE.
-- PL/pgSQL plans static statements once per session and keeps the plans, while EXECUTE plans every
-- statement on every call: for a one-row INSERT (a single Ingest, an UPDATE of one interaction) the
-- planning of the five grains' upserts was ~2 ms of the trigger's ~2.3 ms. The statements themselves still
-- come from rollup_statements(), so there is one definition of what a rollup holds: whoever changes
-- rollup_statements() (a new grain) must call rollup_compile_trigger() in the same migration.

CREATE OR REPLACE FUNCTION rollup_compile_trigger() RETURNS VOID
LANGUAGE plpgsql SET search_path = public, pg_temp AS $compile$
DECLARE
  body TEXT;
BEGIN
  -- Each branch only names the transition tables its operation has (a branch is planned when it first runs).
  body := format($body$
BEGIN
  IF TG_OP = 'INSERT' THEN
    %s;
  ELSIF TG_OP = 'DELETE' THEN
    %s;
  ELSE
    -- Unchanged rows cancel out: a worker's claim (claimed_until only) writes nothing here.
    %s;
  END IF;
  RETURN NULL;
END;
$body$,
    array_to_string(rollup_statements('SELECT n.*, 1 AS sign FROM new_rows n', false), ';'),
    array_to_string(rollup_statements('SELECT o.*, -1 AS sign FROM old_rows o', true), ';'),
    array_to_string(rollup_statements(
      'SELECT n.*, 1 AS sign FROM new_rows n UNION ALL SELECT o.*, -1 AS sign FROM old_rows o', true), ';'));
  -- The one writer of the rollups, as before: SECURITY DEFINER (the application role may only read them).
  EXECUTE format('CREATE OR REPLACE FUNCTION rollup_after_change() RETURNS TRIGGER LANGUAGE plpgsql'
                 ' SECURITY DEFINER SET search_path = public, pg_temp AS %L', body);
END;
$compile$;

SELECT rollup_compile_trigger();
