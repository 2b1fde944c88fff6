-- Everything the app keeps besides stations, so that several app servers on one database share it:
-- accounts and their API tokens, the app's secrets, sign-in and abuse counters, Idempotency-Key
-- records, upload drafts, planner inputs and riders' reports. (The embedded default keeps these
-- in files beside the registry; see geo/registry/state_file.py.)

-- Accounts: argon2id password hashes; tokens are HMAC-SHA256 digests under the 'token_key' secret.
CREATE TABLE accounts (
    name            text PRIMARY KEY,
    role            text NOT NULL,
    district_adcode text,
    disabled        boolean NOT NULL DEFAULT false,
    password_hash   text NOT NULL,
    created_at      text NOT NULL DEFAULT '',
    -- the session generation every request checks: sign-out, password change and disabling bump it
    session_version bigint NOT NULL DEFAULT 0
);
CREATE TABLE account_tokens (
    id         text PRIMARY KEY,
    account    text NOT NULL REFERENCES accounts (name) ON DELETE CASCADE,
    hash       text NOT NULL,
    created_at text NOT NULL DEFAULT '',
    label      text NOT NULL DEFAULT '',
    ord        bigint GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX account_tokens_account ON account_tokens (account);

-- Secrets made once and shared by every server: the session-signing key, the token HMAC key.
CREATE TABLE app_secrets (
    name       text PRIMARY KEY,
    value      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Fixed-window counters (the `limits` storage): failed sign-ins, bad tokens, report abuse.
CREATE TABLE rate_counters (
    key     text PRIMARY KEY,
    count   bigint NOT NULL,
    expires double precision NOT NULL
);
CREATE INDEX rate_counters_expires ON rate_counters (expires);

-- Idempotency-Key: per account and key, pending while the first request runs, then its answer.
CREATE TABLE idempotency (
    scope       text NOT NULL,
    key         text NOT NULL,
    fingerprint text NOT NULL,
    state       text NOT NULL CHECK (state IN ('pending', 'done')),
    status      integer,
    headers     text,
    body        bytea,
    created     double precision NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_created ON idempotency (created);

-- Checked-but-not-committed uploads (the portal's dry run), claimed once by the commit.
CREATE TABLE upload_drafts (
    token    text PRIMARY KEY,
    meta     jsonb NOT NULL,
    raw      bytea NOT NULL,
    saved_at double precision NOT NULL
);
CREATE INDEX upload_drafts_saved_at ON upload_drafts (saved_at);

-- Planner inputs: uploaded candidate files by their SHA-256.
CREATE TABLE planner_inputs (
    digest     text PRIMARY KEY,
    data       bytea NOT NULL,
    touched_at double precision NOT NULL
);
CREATE INDEX planner_inputs_touched_at ON planner_inputs (touched_at);

-- Riders' problem reports; at most one open report per station, category and facility.
CREATE TABLE reports (
    code            text PRIMARY KEY,
    station_id      text NOT NULL,
    district_adcode text NOT NULL,
    station_name    text NOT NULL,
    category        text NOT NULL,
    facility        text NOT NULL,
    lon             double precision,
    lat             double precision,
    notes           jsonb NOT NULL,
    count           integer NOT NULL,
    status          text NOT NULL,
    outcome         text NOT NULL,
    reason          text NOT NULL,
    created_at      text NOT NULL,
    updated_at      text NOT NULL,
    resolved_by     text NOT NULL
);
CREATE INDEX reports_district ON reports (district_adcode, status);
CREATE INDEX reports_station ON reports (station_id, status);
CREATE UNIQUE INDEX reports_one_open ON reports (station_id, category, facility) WHERE status = 'open';
CREATE TABLE reports_meta (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL DEFAULT 0
);
INSERT INTO reports_meta (singleton, version) VALUES (true, 0);
