"""--no-owner for plain SQL: whole ownership and privilege statements go, nothing else does.

What a reviewer fears from such a filter is that it removes a line that only
looks like a statement: inside a function body, a string, a comment or a row of
COPY data. Each of those is here, next to the statements that must go.
"""

from __future__ import annotations

from hht_archival.ownership_filter import without_owners

SCRIPT = rb'''\restrict AbC123
SET standard_conforming_strings = on;
--
-- Name: notes; Type: TABLE; Schema: public; Owner: app
--

CREATE TABLE public."OWNER TO x;" (id integer, body text);

ALTER TABLE public."OWNER TO x;" OWNER TO app;

CREATE FUNCTION public.hand_over() RETURNS void
    LANGUAGE plpgsql
    AS $_$
BEGIN
ALTER TABLE notes OWNER TO CURRENT_USER;
GRANT SELECT ON notes TO PUBLIC;
END
$_$;

ALTER FUNCTION public.hand_over() OWNER TO "Weird ""App""";

COMMENT ON TABLE public.notes IS 'first line;
GRANT ALL ON notes TO PUBLIC;';

SELECT E'it\'s; GRANT x TO y;' /* a comment; /* nested; */ still */;

ALTER SEQUENCE public.notes_id_seq OWNED BY public.notes.id;

COPY public.sql_log (statement) FROM stdin;
ALTER TABLE notes OWNER TO nobody;
GRANT ALL ON notes TO PUBLIC;
\.

SET SESSION AUTHORIZATION app;
GRANT SELECT ON TABLE public.notes TO reader;
RESET SESSION AUTHORIZATION;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE app GRANT SELECT ON TABLES  TO reader;
ALTER LARGE OBJECT 16437 OWNER TO app;

--
-- PostgreSQL database dump complete
--

\unrestrict AbC123
'''

KEPT = rb"""\restrict AbC123
SET standard_conforming_strings = on;
--
-- Name: notes; Type: TABLE; Schema: public; Owner: app
--

CREATE TABLE public."OWNER TO x;" (id integer, body text);

CREATE FUNCTION public.hand_over() RETURNS void
    LANGUAGE plpgsql
    AS $_$
BEGIN
ALTER TABLE notes OWNER TO CURRENT_USER;
GRANT SELECT ON notes TO PUBLIC;
END
$_$;

COMMENT ON TABLE public.notes IS 'first line;
GRANT ALL ON notes TO PUBLIC;';

SELECT E'it\'s; GRANT x TO y;' /* a comment; /* nested; */ still */;

ALTER SEQUENCE public.notes_id_seq OWNED BY public.notes.id;

COPY public.sql_log (statement) FROM stdin;
ALTER TABLE notes OWNER TO nobody;
GRANT ALL ON notes TO PUBLIC;
\.


--
-- PostgreSQL database dump complete
--

\unrestrict AbC123
"""


def test_only_top_level_ownership_and_privilege_statements_are_dropped():
    assert b"".join(without_owners([SCRIPT])) == KEPT


def test_the_result_does_not_depend_on_where_the_stream_is_cut():
    one_byte_at_a_time = [SCRIPT[i : i + 1] for i in range(len(SCRIPT))]
    assert b"".join(without_owners(one_byte_at_a_time)) == KEPT


def test_output_comes_in_large_pieces_not_one_write_per_line():
    rows = b"".join(b"%d\trow %d\n" % (i, i) for i in range(100_000))
    script = b"COPY public.t (id, v) FROM stdin;\n" + rows + b"\\.\n"
    pieces = list(without_owners([script[i : i + 65536] for i in range(0, len(script), 65536)]))
    assert b"".join(pieces) == script
    assert len(pieces) <= len(script) // (1024 * 1024) + 1
