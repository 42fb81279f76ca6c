-- The staging tables of an import in progress on PostgreSQL: TEMP tables of each session, as
-- SQLite's (schema.rs, STAGING).
CREATE TEMP TABLE IF NOT EXISTS staged_accounts (
    run_id  BIGINT NOT NULL,
    name    TEXT COLLATE "C" NOT NULL,
    columns TEXT COLLATE "C" NOT NULL,
    status  TEXT COLLATE "C" NOT NULL DEFAULT 'active',
    locked  BIGINT,
    is_new  BIGINT NOT NULL DEFAULT 0,
    arrival TEXT COLLATE "C",
    PRIMARY KEY (run_id, name)
);
CREATE TEMP TABLE IF NOT EXISTS staged_links (
    run_id       BIGINT NOT NULL,
    account_name TEXT COLLATE "C" NOT NULL,
    type         TEXT COLLATE "C" NOT NULL,
    value        TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (run_id, account_name, type, value)
);
CREATE TEMP TABLE IF NOT EXISTS missing_accounts (
    id BIGINT PRIMARY KEY
);
CREATE TEMP TABLE IF NOT EXISTS staged_entitlements (
    run_id  BIGINT NOT NULL,
    type    TEXT COLLATE "C" NOT NULL,
    value   TEXT COLLATE "C" NOT NULL,
    columns TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (run_id, type, value)
);
