"""A database as production has them: owned by an application role, granting to a read-only one.

Why: the seeded diary database belongs to the superuser that created it, which
every cluster has, so it restores anywhere and proves nothing about roles. This
one has its objects owned by ``app``, SELECT granted (and granted by default)
to ``reader``, ``reader`` granted to ``app``, and the kinds of objects pagila
has: a Unicode-named domain, an enum, arrays, a tsvector trigger, a
partitioned table, a view, functions and a large object. Some of its content
looks like the statements ``--no-owner`` drops (a function body, a comment, a
row), so a filter that cut lines instead of statements would change it.

``catalogue`` is what a reviewer compares between source and restore: owners,
ACLs, routines with their source, triggers, large objects, default ACLs.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

LARGE_OBJECT = "große Datei".encode() + b"\x00\xff"

_OWNED_SCHEMA = r"""
CREATE TYPE mood AS ENUM ('low', 'ok', 'high');
CREATE DOMAIN "größe" AS integer CHECK (VALUE >= 0);
CREATE TABLE notes (id serial PRIMARY KEY, mood mood, tags text[], size "größe", body text, doc tsvector);
COMMENT ON TABLE notes IS E'Free-text notes.\nGRANT ALL ON notes TO PUBLIC;';
CREATE FUNCTION notes_touch() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    NEW.body := coalesce(NEW.body, '');
    RETURN NEW;
END
$body$;
CREATE FUNCTION hand_over() RETURNS void LANGUAGE plpgsql AS $body$
BEGIN
ALTER TABLE notes OWNER TO CURRENT_USER;
GRANT SELECT ON notes TO PUBLIC;
END
$body$;
CREATE TRIGGER notes_doc BEFORE INSERT OR UPDATE ON notes
    FOR EACH ROW EXECUTE FUNCTION tsvector_update_trigger(doc, 'pg_catalog.english', body);
CREATE TRIGGER notes_touch BEFORE INSERT ON notes FOR EACH ROW EXECUTE FUNCTION notes_touch();
INSERT INTO notes (mood, tags, size, body)
VALUES ('ok', '{sleep,pain}', 3, 'Überprüfung der Schmerzen'), ('high', '{}', 0, NULL);
CREATE TABLE readings (day date NOT NULL, value int) PARTITION BY RANGE (day);
CREATE TABLE readings_2024 PARTITION OF readings FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
INSERT INTO readings SELECT date '2024-01-01' + g, g FROM generate_series(0, 99) AS g;
CREATE TABLE sql_log (statement text);
INSERT INTO sql_log VALUES ('ALTER TABLE notes OWNER TO nobody;'), ('GRANT ALL ON notes TO PUBLIC;');
CREATE VIEW open_entries AS SELECT entry_id, note FROM diary_entries WHERE note IS NOT NULL;
"""


def make_owned(url: str, app: str, reader: str) -> None:
    """Give the seeded database in ``url`` to ``app``, add the objects above as ``app``, grant ``reader``."""
    ident = sql.Identifier
    with psycopg.connect(url, autocommit=True) as conn:
        database = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(ident(database), ident(app)))
        for table in ("sponsors", "patients", "diary_entries", "audit_events"):
            conn.execute(sql.SQL("ALTER TABLE {} OWNER TO {}").format(ident(table), ident(app)))
        conn.execute(sql.SQL("SET ROLE {}").format(ident(app)))
        conn.execute(_OWNED_SCHEMA)
        conn.execute("SELECT lo_from_bytea(0, %s)", (LARGE_OBJECT,))
        conn.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {}").format(ident(reader)))
        conn.execute(
            sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} GRANT SELECT ON TABLES TO {}").format(
                ident(app), ident(reader)
            )
        )


_CATALOGUE = {
    "relations": """
        SELECT c.relname, c.relkind, pg_get_userbyid(c.relowner), c.relacl::text FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' ORDER BY 1""",
    "routines": """
        SELECT p.proname, pg_get_userbyid(p.proowner), p.prosrc FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public' ORDER BY 1""",
    "types": """
        SELECT t.typname, t.typtype, pg_get_userbyid(t.typowner) FROM pg_type t
        JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = 'public' AND t.typtype IN ('d', 'e') ORDER BY 1""",
    "triggers": "SELECT tgname, tgrelid::regclass::text FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1",
    "large_objects": """
        SELECT oid, pg_get_userbyid(lomowner), lo_get(oid) FROM pg_largeobject_metadata ORDER BY 1""",
    "default_acls": """
        SELECT pg_get_userbyid(defaclrole), defaclobjtype, defaclacl::text FROM pg_default_acl""",
    "comments": "SELECT obj_description('public.notes'::regclass, 'pg_class')",
}


def catalogue(url: str) -> dict[str, list[tuple]]:
    """Owners, privileges, routines, triggers, large objects and comments, as a reviewer would list them."""
    with psycopg.connect(url) as conn:
        return {name: conn.execute(query).fetchall() for name, query in _CATALOGUE.items()}
