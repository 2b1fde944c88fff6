-- Every station property as a column computed from `props`, so that an app server loads
-- 200,000 stations as plain typed values (one binary COPY, nothing for PostgreSQL to take
-- apart per row at read time). `props` stays the one truth; these follow it on every write.
ALTER TABLE stations
    ADD COLUMN lon             double precision GENERATED ALWAYS AS (ST_X(geom)) STORED,
    ADD COLUMN lat             double precision GENERATED ALWAYS AS (ST_Y(geom)) STORED,
    ADD COLUMN address         text GENERATED ALWAYS AS (props ->> 'address') STORED,
    ADD COLUMN district        text GENERATED ALWAYS AS (props ->> 'district') STORED,
    ADD COLUMN operator        text GENERATED ALWAYS AS (props ->> 'operator') STORED,
    ADD COLUMN phone           text GENERATED ALWAYS AS (props ->> 'phone') STORED,
    ADD COLUMN opening_hours   text GENERATED ALWAYS AS (props ->> 'opening_hours') STORED,
    ADD COLUMN created_at      text GENERATED ALWAYS AS (props ->> 'created_at') STORED,
    ADD COLUMN updated_at      text GENERATED ALWAYS AS (props ->> 'updated_at') STORED,
    ADD COLUMN source          text GENERATED ALWAYS AS (props ->> 'source') STORED,
    ADD COLUMN verified_at     text GENERATED ALWAYS AS (props ->> 'verified_at') STORED,
    -- lists and objects as JSON text (an app server parses each distinct value once)
    ADD COLUMN amenities       text GENERATED ALWAYS AS ((props -> 'amenities')::text) STORED,
    ADD COLUMN honours         text GENERATED ALWAYS AS ((props -> 'honours')::text) STORED,
    ADD COLUMN listing         text GENERATED ALWAYS AS ((props -> 'listing')::text) STORED,
    -- properties present with a JSON null (the columns above cannot tell them from absent ones)
    ADD COLUMN null_keys       text GENERATED ALWAYS AS (
        nullif(jsonb_path_query_array(props, '$.keyvalue() ? (@.value == null).key')::text, '[]')) STORED;
