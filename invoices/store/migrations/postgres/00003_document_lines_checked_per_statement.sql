-- document_lines keeps its rule — every line belongs to a document — but PostgreSQL checks it once per
-- statement instead of once per row. The foreign key ran, for each line a close writes (~60 per invoice,
-- 300,000 for 5,000 accounts), a SELECT … FOR KEY SHARE on documents from an after-row trigger; that was
-- more than half of the server's work in issuing. Now:
--   * an INSERT or UPDATE of lines (a COPY included) is checked by one query over the statement's new
--     rows (its transition table): a line whose document does not exist fails the statement with the
--     foreign key's SQLSTATE, 23503 (foreign_key_violation);
--   * a document cannot be deleted, truncated or given another id, so a line's document cannot go away
--     once the line is written. Issued documents are a permanent record: a changed invoice is voided
--     and stays in the exports (DESIGN §11); no code path deletes one.
-- The foreign key's locks on each referenced document are not needed: a document cannot be deleted.
-- SQLite keeps its foreign key: its check is one lookup by rowid. The functions keep the search_path
-- they were created with, so the check reads billrun's documents whatever the session's path.

-- +goose Up
ALTER TABLE document_lines DROP CONSTRAINT document_lines_document_id_fkey;

-- +goose StatementBegin
CREATE FUNCTION document_lines_documents_exist() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
DECLARE
    missing BIGINT;
BEGIN
    -- The statement's documents, each once (~100 for a close's batch of ~6,000 lines), looked up in
    -- documents' primary key: the cost stays per document, however large documents grows.
    SELECT l.document_id INTO missing
    FROM (SELECT DISTINCT document_id FROM new_lines) l
    WHERE NOT EXISTS (SELECT FROM documents d WHERE d.id = l.document_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'insert or update on table "document_lines" violates its reference to "documents"'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'document_lines',
                  DETAIL = format('Key (document_id)=(%s) is not present in table "documents".', missing);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- A trigger with a transition table serves one event, hence two.
CREATE TRIGGER document_lines_insert_documents_exist AFTER INSERT ON document_lines
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION document_lines_documents_exist();
CREATE TRIGGER document_lines_update_documents_exist AFTER UPDATE ON document_lines
    REFERENCING NEW TABLE AS new_lines
    FOR EACH STATEMENT EXECUTE FUNCTION document_lines_documents_exist();

-- +goose StatementBegin
CREATE FUNCTION documents_are_permanent() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'documents cannot be deleted or renumbered (% on "documents"): void them instead', TG_OP
        USING ERRCODE = 'foreign_key_violation', TABLE = 'documents';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER documents_no_delete BEFORE DELETE OR UPDATE OF id ON documents
    FOR EACH ROW EXECUTE FUNCTION documents_are_permanent();
CREATE TRIGGER documents_no_truncate BEFORE TRUNCATE ON documents
    FOR EACH STATEMENT EXECUTE FUNCTION documents_are_permanent();

-- +goose Down
DROP TRIGGER documents_no_truncate ON documents;
DROP TRIGGER documents_no_delete ON documents;
DROP FUNCTION documents_are_permanent();
DROP TRIGGER document_lines_update_documents_exist ON document_lines;
DROP TRIGGER document_lines_insert_documents_exist ON document_lines;
DROP FUNCTION document_lines_documents_exist();
ALTER TABLE document_lines ADD CONSTRAINT document_lines_document_id_fkey
    FOREIGN KEY (document_id) REFERENCES documents (id);
