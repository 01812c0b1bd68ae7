-- A stored line's description is null when it is the one its other fields give (linesjson.go,
-- derivedDescription): almost every line, a third of the lines' bytes. The document_lines view shows
-- that text, built here in SQL as derivedDescription builds it in Go. Nothing stored changes: lines
-- written before keep their texts.

-- +goose Up
CREATE OR REPLACE VIEW document_lines AS
SELECT s.document_id, (e.n - 1)::integer AS position, e.v ->> 0 AS kind, e.v ->> 1 AS product,
    e.v ->> 2 AS base_model, e.v ->> 3 AS deployment, e.v ->> 4 AS meter,
    COALESCE(e.v ->> 5, CASE e.v ->> 0
        WHEN 'gpu' THEN (e.v ->> 1) || ' on deployment ' || (e.v ->> 3) || ', GPU-seconds'
        WHEN 'fine_tuning' THEN 'fine-tuning job ' || (e.v ->> 1) || ' on ' || (e.v ->> 2) || ', training tokens'
        WHEN 'serverless' THEN (e.v ->> 1)
            || CASE WHEN (e.v ->> 2) <> '' AND (e.v ->> 2) <> (e.v ->> 1) THEN ' (priced as ' || (e.v ->> 2) || ')' ELSE '' END
            || ', ' || replace(e.v ->> 4, '_', ' ')
    END) AS description,
    e.v ->> 6 AS quantity, e.v ->> 7 AS unit, e.v ->> 8 AS unit_price, e.v ->> 9 AS unrounded,
    (e.v ->> 10)::bigint AS amount_cents
FROM document_line_sets s CROSS JOIN LATERAL json_array_elements(s.lines::json) WITH ORDINALITY AS e (v, n);

-- +goose Down
-- Migration 4's view reads descriptions as stored: write the derived ones into the lines first.
UPDATE document_line_sets s SET lines = (
    SELECT json_agg(CASE WHEN json_typeof(e.v -> 5) = 'null'
        THEN json_build_array(e.v -> 0, e.v -> 1, e.v -> 2, e.v -> 3, e.v -> 4, l.description, e.v -> 6, e.v -> 7,
            e.v -> 8, e.v -> 9, e.v -> 10)
        ELSE e.v END ORDER BY e.n)::text
    FROM json_array_elements(s.lines::json) WITH ORDINALITY AS e (v, n)
    JOIN document_lines l ON l.document_id = s.document_id AND l.position = e.n - 1)
WHERE s.lines LIKE '%null%';
CREATE OR REPLACE VIEW document_lines AS
SELECT s.document_id, (e.n - 1)::integer AS position, e.v ->> 0 AS kind, e.v ->> 1 AS product,
    e.v ->> 2 AS base_model, e.v ->> 3 AS deployment, e.v ->> 4 AS meter, e.v ->> 5 AS description,
    e.v ->> 6 AS quantity, e.v ->> 7 AS unit, e.v ->> 8 AS unit_price, e.v ->> 9 AS unrounded,
    (e.v ->> 10)::bigint AS amount_cents
FROM document_line_sets s CROSS JOIN LATERAL json_array_elements(s.lines::json) WITH ORDINALITY AS e (v, n);
