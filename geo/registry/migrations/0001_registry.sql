-- The registry: stations (PostGIS points, queried properties as typed columns, the rest jsonb),
-- the append-only audit log, and the registry version every write increments.
CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE registry_meta (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint  NOT NULL DEFAULT 0
);
INSERT INTO registry_meta (singleton, version) VALUES (true, 0);

CREATE TABLE stations (
    id              text PRIMARY KEY,
    -- registry order: new stations are appended, an edit keeps its place
    ord             bigint GENERATED ALWAYS AS IDENTITY,
    geom            geometry(Point, 4326) NOT NULL,
    props           jsonb NOT NULL CHECK (jsonb_typeof(props) = 'object'),
    kind            text GENERATED ALWAYS AS (props ->> 'kind') STORED,
    district_adcode text GENERATED ALWAYS AS (props ->> 'district_adcode') STORED,
    status          text GENERATED ALWAYS AS (props ->> 'status') STORED,
    name            text GENERATED ALWAYS AS (props ->> 'name') STORED,
    -- the registry version that last wrote this row: a delta is "WHERE version > v"
    version         bigint NOT NULL,
    CHECK (props ->> 'id' = id)
);
CREATE INDEX stations_geom ON stations USING gist (geom);
CREATE INDEX stations_version ON stations (version);
CREATE INDEX stations_district_kind ON stations (district_adcode, kind);
CREATE INDEX stations_id_prefix ON stations (id text_pattern_ops);
CREATE UNIQUE INDEX stations_ord ON stations (ord);

CREATE TABLE audit (
    version   bigint PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor     text NOT NULL,
    role      text NOT NULL,
    district  text,
    actions   text[] NOT NULL,
    ids       text[] NOT NULL,
    -- the actor's district and every district a change touched (the portal's district filter)
    districts text[] NOT NULL,
    entry     jsonb NOT NULL
);
CREATE INDEX audit_ids ON audit USING gin (ids);
CREATE INDEX audit_districts ON audit USING gin (districts);
CREATE INDEX audit_actor ON audit (actor);

-- Append-only, whatever role the application connects as: an UPDATE, DELETE or TRUNCATE of
-- the audit log fails. (Only a migration that drops this trigger could change history.)
CREATE FUNCTION audit_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_no_update_delete BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_is_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
    FOR EACH STATEMENT EXECUTE FUNCTION audit_is_append_only();
