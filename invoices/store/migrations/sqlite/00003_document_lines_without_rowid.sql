-- document_lines becomes a WITHOUT ROWID table: its rows are stored in the B-tree of its primary key
-- (document_id, position), in the order they are inserted and read, instead of a rowid table plus a
-- separate index on that key — so each line written during a close goes into one B-tree, not two,
-- and reading a document's lines takes no lookup from the index into the table. Same columns,
-- constraints and data; nothing refers to the lines' rowids.

-- +goose Up
CREATE TABLE document_lines_new (
    document_id  INTEGER NOT NULL REFERENCES documents (id),
    position     INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    product      TEXT NOT NULL,
    base_model   TEXT NOT NULL,
    deployment   TEXT NOT NULL,
    meter        TEXT NOT NULL,
    description  TEXT NOT NULL,
    quantity     TEXT, -- NULL for discount lines
    unit         TEXT NOT NULL,
    unit_price   TEXT, -- NULL for discount lines
    unrounded    TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    PRIMARY KEY (document_id, position)
) WITHOUT ROWID;
INSERT INTO document_lines_new (document_id, position, kind, product, base_model, deployment, meter, description,
    quantity, unit, unit_price, unrounded, amount_cents)
SELECT document_id, position, kind, product, base_model, deployment, meter, description,
    quantity, unit, unit_price, unrounded, amount_cents
FROM document_lines;
DROP TABLE document_lines;
ALTER TABLE document_lines_new RENAME TO document_lines;

-- +goose Down
CREATE TABLE document_lines_old (
    document_id  INTEGER NOT NULL REFERENCES documents (id),
    position     INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    product      TEXT NOT NULL,
    base_model   TEXT NOT NULL,
    deployment   TEXT NOT NULL,
    meter        TEXT NOT NULL,
    description  TEXT NOT NULL,
    quantity     TEXT, -- NULL for discount lines
    unit         TEXT NOT NULL,
    unit_price   TEXT, -- NULL for discount lines
    unrounded    TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    PRIMARY KEY (document_id, position)
);
INSERT INTO document_lines_old (document_id, position, kind, product, base_model, deployment, meter, description,
    quantity, unit, unit_price, unrounded, amount_cents)
SELECT document_id, position, kind, product, base_model, deployment, meter, description,
    quantity, unit, unit_price, unrounded, amount_cents
FROM document_lines;
DROP TABLE document_lines;
ALTER TABLE document_lines_old RENAME TO document_lines;
