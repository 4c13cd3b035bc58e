-- depends: 0013_rollup_hourly_totals
-- Quarter hours (UTC) without dimensions. Every time zone in use today is offset from UTC by a multiple of
-- 15 minutes, so a bucket in a zone other than the organization's (Asia/Kolkata, +05:30; Asia/Kathmandu,
-- +05:45) is whole UTC hours plus whole UTC quarter hours at its edges: no raw rows any more for questions
-- without a channel, segment or event type. The table holds 96 rows a day at most, at any volume (70,000
-- for 24 months), and is maintained by the same statement triggers, rebuilds and partition drops as the
-- other grains (rollup_statements gains the grain).

CREATE TABLE interaction_rollup_quarter_totals (
  organization_id UUID NOT NULL,
  quarter TIMESTAMPTZ NOT NULL,
  channel VARCHAR(50) NOT NULL DEFAULT '' CHECK (channel = ''),
  segment VARCHAR(100) NOT NULL DEFAULT '' CHECK (segment = ''),
  event_type VARCHAR(100) NOT NULL DEFAULT '' CHECK (event_type = ''),
  negative BIGINT NOT NULL,
  neutral BIGINT NOT NULL,
  positive BIGINT NOT NULL,
  pending BIGINT NOT NULL,
  unscored BIGINT NOT NULL,
  negative_score NUMERIC NOT NULL,
  neutral_score NUMERIC NOT NULL,
  positive_score NUMERIC NOT NULL,
  PRIMARY KEY (organization_id, quarter, channel, segment, event_type)
);
ALTER TABLE interaction_rollup_quarter_totals ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON interaction_rollup_quarter_totals USING (organization_id = app_organization_id());

CREATE OR REPLACE FUNCTION rollup_statements(changes TEXT, shrinking BOOLEAN) RETURNS TEXT[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  grain RECORD;
  statements TEXT[] := '{}';
BEGIN
  FOR grain IN SELECT * FROM (VALUES
      ('interaction_rollup_hourly', 'hour', $g$date_trunc('hour', c.timestamp, 'UTC')$g$,
       $g$c.channel, coalesce(c.segment, ''), c.event_type$g$),
      ('interaction_rollup_daily', 'day', $g$(c.timestamp AT TIME ZONE o.time_zone)::date$g$,
       $g$c.channel, coalesce(c.segment, ''), c.event_type$g$),
      ('interaction_rollup_daily_totals', 'day', $g$(c.timestamp AT TIME ZONE o.time_zone)::date$g$,
       $g$''::text, ''::text, ''::text$g$),
      ('interaction_rollup_hourly_totals', 'hour', $g$date_trunc('hour', c.timestamp, 'UTC')$g$,
       $g$''::text, ''::text, ''::text$g$),
      ('interaction_rollup_quarter_totals', 'quarter',
       $g$date_bin('15 minutes', c.timestamp, TIMESTAMPTZ '2000-01-01 00:00:00+00')$g$,
       $g$''::text, ''::text, ''::text$g$)) AS g(tbl, col, expr, dims)
  LOOP
    statements := statements || format($q$
      INSERT INTO %1$I AS r (organization_id, %2$I, channel, segment, event_type, negative, neutral, positive,
                             pending, unscored, negative_score, neutral_score, positive_score)
      SELECT * FROM (
        SELECT c.organization_id, %3$s AS k, %5$s,
               sum(c.sign * (c.sentiment_label = 'negative')::int) AS negative,
               sum(c.sign * (c.sentiment_label = 'neutral')::int) AS neutral,
               sum(c.sign * (c.sentiment_label = 'positive')::int) AS positive,
               sum(c.sign * (c.sentiment_label = 'pending')::int) AS pending,
               sum(c.sign * (c.sentiment_label NOT IN ('negative', 'neutral', 'positive', 'pending'))::int) AS unscored,
               sum(c.sign * CASE WHEN c.sentiment_label = 'negative' THEN coalesce(c.sentiment_score, 0) ELSE 0 END) AS negative_score,
               sum(c.sign * CASE WHEN c.sentiment_label = 'neutral' THEN coalesce(c.sentiment_score, 0) ELSE 0 END) AS neutral_score,
               sum(c.sign * CASE WHEN c.sentiment_label = 'positive' THEN coalesce(c.sentiment_score, 0) ELSE 0 END) AS positive_score
        FROM (%4$s) c JOIN organizations o ON o.id = c.organization_id
        GROUP BY 1, 2, 3, 4, 5
      ) d
      WHERE d.negative <> 0 OR d.neutral <> 0 OR d.positive <> 0 OR d.pending <> 0 OR d.unscored <> 0
         OR d.negative_score <> 0 OR d.neutral_score <> 0 OR d.positive_score <> 0
      ORDER BY 1, 2, 3, 4, 5
      ON CONFLICT (organization_id, %2$I, channel, segment, event_type) DO UPDATE SET
        negative = r.negative + EXCLUDED.negative, neutral = r.neutral + EXCLUDED.neutral,
        positive = r.positive + EXCLUDED.positive, pending = r.pending + EXCLUDED.pending,
        unscored = r.unscored + EXCLUDED.unscored, negative_score = r.negative_score + EXCLUDED.negative_score,
        neutral_score = r.neutral_score + EXCLUDED.neutral_score,
        positive_score = r.positive_score + EXCLUDED.positive_score
    $q$, grain.tbl, grain.col, grain.expr, changes, grain.dims);
    IF shrinking THEN
      statements := statements || format($q$
        DELETE FROM %1$I r
        USING (SELECT DISTINCT c.organization_id, %3$s AS k, x.d1, x.d2, x.d3
               FROM (%4$s) c JOIN organizations o ON o.id = c.organization_id,
                    LATERAL (SELECT %5$s) AS x(d1, d2, d3) WHERE c.sign < 0) d
        WHERE r.organization_id = d.organization_id AND r.%2$I = d.k AND r.channel = d.d1
          AND r.segment = d.d2 AND r.event_type = d.d3
          AND r.negative = 0 AND r.neutral = 0 AND r.positive = 0 AND r.pending = 0 AND r.unscored = 0
      $q$, grain.tbl, grain.col, grain.expr, changes, grain.dims);
    END IF;
  END LOOP;
  RETURN statements;
END;
$$;

CREATE OR REPLACE FUNCTION rollup_rebuild(p_organization_id UUID) RETURNS VOID
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
BEGIN
  LOCK TABLE customer_interactions IN SHARE MODE;
  DELETE FROM interaction_rollup_hourly WHERE organization_id = p_organization_id;
  DELETE FROM interaction_rollup_daily WHERE organization_id = p_organization_id;
  DELETE FROM interaction_rollup_daily_totals WHERE organization_id = p_organization_id;
  DELETE FROM interaction_rollup_hourly_totals WHERE organization_id = p_organization_id;
  DELETE FROM interaction_rollup_quarter_totals WHERE organization_id = p_organization_id;
  PERFORM rollup_sync(format('SELECT i.*, 1 AS sign FROM customer_interactions i WHERE i.organization_id = %L',
                             p_organization_id), false);
END;
$$;

-- The quarter hours of the rows already stored, under the SHARE lock a rebuild takes (no writer slips in).
LOCK TABLE customer_interactions IN SHARE MODE;
INSERT INTO interaction_rollup_quarter_totals (organization_id, quarter, negative, neutral, positive, pending,
                                               unscored, negative_score, neutral_score, positive_score)
SELECT i.organization_id, date_bin('15 minutes', i.timestamp, TIMESTAMPTZ '2000-01-01 00:00:00+00'),
       count(*) FILTER (WHERE i.sentiment_label = 'negative'), count(*) FILTER (WHERE i.sentiment_label = 'neutral'),
       count(*) FILTER (WHERE i.sentiment_label = 'positive'), count(*) FILTER (WHERE i.sentiment_label = 'pending'),
       count(*) FILTER (WHERE i.sentiment_label NOT IN ('negative', 'neutral', 'positive', 'pending')),
       coalesce(sum(i.sentiment_score) FILTER (WHERE i.sentiment_label = 'negative'), 0),
       coalesce(sum(i.sentiment_score) FILTER (WHERE i.sentiment_label = 'neutral'), 0),
       coalesce(sum(i.sentiment_score) FILTER (WHERE i.sentiment_label = 'positive'), 0)
FROM customer_interactions i GROUP BY 1, 2;
