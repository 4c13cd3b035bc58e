-- depends: 0014_rollup_quarter_totals
-- Fuzzy customer look-up of something that looks like an id (one word with a digit: "cust-00012",
-- "crm-4821", "ada.lovelace.12@"). Every external id of an organization tends to share the trigrams of
-- such a query ("cus", "ust", "000", ...), so the trigram index cannot prune: the nearest-first scan visits
-- most of the index (135 ms at 100,000 customers, 1.1 s at 1,000,000). The ids and e-mail addresses that
-- start with the query are what such a query means; they come from two btree ranges (text_pattern_ops:
-- byte order, so a prefix is one range in any collation). Only when nothing starts with it (a typo) does
-- the trigram look-up run. Prefix matches are ranked by the same word similarity as trigram matches (the
-- exact id first, at 1), at most p_limit of them (the first ones in id order).

CREATE INDEX idx_customers_org_external_prefix ON customers (organization_id, lower(external_id) text_pattern_ops);
CREATE INDEX idx_customers_org_email_prefix ON customers (organization_id, lower(email) text_pattern_ops)
  WHERE email IS NOT NULL;

CREATE OR REPLACE FUNCTION tenant_customer_matches(p_query TEXT, p_threshold REAL, p_limit INTEGER)
RETURNS TABLE (id UUID, similarity REAL)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  v_org UUID := app_organization_id();
  v_limit INTEGER := greatest(p_limit, 1);
  -- The least string above every one that starts with p_query (byte order): its last character's successor.
  v_upper TEXT := left(p_query, -1) || chr(ascii(right(p_query, 1)) + 1);
BEGIN
  IF p_query ~ '^[^[:space:]]*[0-9][^[:space:]]*$' THEN  -- one word with a digit (the caller lowercases)
    RETURN QUERY
      SELECT p.id, (1 - (p_query <<-> customer_search_text(c.external_id, c.email, c.first_name, c.last_name)))::real
      FROM (
        (SELECT c.id FROM customers c
         WHERE c.organization_id = v_org AND lower(c.external_id) ~>=~ p_query AND lower(c.external_id) ~<~ v_upper
           AND starts_with(lower(c.external_id), p_query)
         ORDER BY lower(c.external_id) USING ~<~ LIMIT v_limit)
        UNION
        (SELECT c.id FROM customers c
         WHERE c.organization_id = v_org AND c.email IS NOT NULL AND lower(c.email) ~>=~ p_query
           AND lower(c.email) ~<~ v_upper AND starts_with(lower(c.email), p_query)
         ORDER BY lower(c.email) USING ~<~ LIMIT v_limit)
      ) p JOIN customers c ON c.id = p.id
      ORDER BY 2 DESC, 1 LIMIT v_limit;
    IF FOUND THEN
      RETURN;
    END IF;
  END IF;
  RETURN QUERY
    SELECT n.id, n.similarity FROM (
      SELECT c.id, (1 - (p_query <<-> customer_search_text(c.external_id, c.email, c.first_name, c.last_name)))::real
             AS similarity
      FROM customers c
      WHERE c.organization_id = v_org
      ORDER BY p_query <<-> customer_search_text(c.external_id, c.email, c.first_name, c.last_name)
      LIMIT v_limit
    ) n
    WHERE n.similarity >= p_threshold;
END;
$$;
