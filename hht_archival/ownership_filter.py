"""``--no-owner`` for a plain SQL backup: drop the statements that name owners and grantees.

pg_restore has ``--no-owner --no-privileges`` for the custom format; psql has
nothing, and a plain dump names its roles in ``ALTER ... OWNER TO role``,
``GRANT``/``REVOKE``, ``ALTER DEFAULT PRIVILEGES`` and ``SET SESSION
AUTHORIZATION``. Dropping those statements leaves every object to the user who
restores, which is what pg_restore's options do.

Why not a line filter: a line that reads ``GRANT ALL ON t TO app;`` can sit
inside a function body, a multi-line string or a row of COPY data, and
removing it there would silently change the data or the code. So this reads
the stream as PostgreSQL's lexer would, as far as it matters: quoted strings
(with ``''``, and ``E'..'`` escapes), quoted identifiers, dollar-quoted bodies,
``--`` and nested ``/* */`` comments, psql meta-commands (``\\restrict``) and
COPY data up to its ``\\.``. Only whole top-level statements are dropped,
decided on their *skeleton* (the statement with every quoted part emptied), so
no content of a string, identifier or row can make a statement look like
another. It streams: memory is one statement (the largest is a large object's
``lowrite`` chunk), and the rows of COPY pass through untouched, line by line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

_DROPPED = re.compile(
    rb"^(?:GRANT|REVOKE|ALTER DEFAULT PRIVILEGES|(?:SET|RESET) SESSION AUTHORIZATION)\b"
    rb"|^ALTER\b.*\sOWNER TO\s+\S+\s*;$",
    re.S,
)
_COPY_FROM_STDIN = re.compile(rb"^COPY\b.*\sFROM STDIN\s*;$", re.S)
_SPECIAL = re.compile(rb"""[;'"$/-]""")
_DOLLAR_TAG = re.compile(rb"\$(?:[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?\$")
_IDENT_CHAR = re.compile(rb"[A-Za-z0-9_$\x80-\xff]")
_END_OF_COPY = (b"\\.\n", b"\\.\r\n", b"\\.")


def without_owners(chunks: Iterable[bytes], size: int = 1024 * 1024) -> Iterator[bytes]:
    """Yield the SQL of ``chunks`` without its ownership and privilege statements, in ``size`` pieces."""
    scanner, out = _Scanner(), bytearray()
    for line in _lines(chunks):
        for piece in scanner.feed(line):
            out += piece
        if len(out) >= size:  # one write per MiB, not per line, reaches psql
            yield bytes(out)
            out.clear()
    for piece in scanner.finish():
        out += piece
    if out:
        yield bytes(out)


def _lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line + b"\n"
    if pending:
        yield pending


class _Scanner:
    """Statement boundaries of a pg_dump script, carried across lines."""

    def __init__(self) -> None:
        self.copying = False  # inside COPY ... FROM stdin data
        self.quote: bytes | None = None  # b"'", b"E'", b'"', a dollar tag, or b"/*" in a comment
        self.depth = 0  # nesting of /* */ comments
        self.text = bytearray()  # the statement so far, as written
        self.skeleton = bytearray()  # the same, without comments and with quoted parts emptied

    def feed(self, line: bytes) -> Iterator[bytes]:
        if self.copying:
            self.copying = line not in _END_OF_COPY
            yield line
            return
        if self.quote is None and not self.skeleton.strip() and line.startswith(b"\\"):
            yield from self._flush()  # a psql meta-command (\restrict, \connect) is a line of its own
            yield line
            return
        start = pos = 0
        while pos < len(line):
            if self.quote is not None:
                pos = self._skip_quoted(line, pos)
                continue
            match = _SPECIAL.search(line, pos)
            if match is None:
                self.skeleton += line[pos:]
                break
            at, char = match.start(), line[match.start() : match.start() + 1]
            self.skeleton += line[pos:at]
            pos = at + 1
            if char == b";":
                self.skeleton += b";"
                self.text += line[start:pos]
                start = pos
                yield from self._end_statement()
                if self.copying:
                    yield line[pos:]  # the rest of the COPY line (its newline); data follows
                    return
            elif char == b"-" and line[at : at + 2] == b"--":
                break  # a comment to the end of the line
            elif char == b"/" and line[at : at + 2] == b"/*":
                self.quote, self.depth, pos = b"/*", 1, at + 2
            elif char == b"'":
                escaped = at > 0 and line[at - 1 : at] in (b"E", b"e") and not _ident_before(line, at - 1)
                self.quote = b"E'" if escaped else b"'"
                self.skeleton += b"'"
            elif char == b'"':
                self.quote = b'"'
                self.skeleton += b'"'
            elif char == b"$" and not _ident_before(line, at):
                tag = _DOLLAR_TAG.match(line, at)
                if tag:
                    self.quote, pos = tag.group(), tag.end()
                    self.skeleton += b"$$"
                else:
                    self.skeleton += b"$"
            else:
                self.skeleton += char
        self.text += line[start:]

    def _skip_quoted(self, line: bytes, pos: int) -> int:
        """Move past the quoted part (or to the end of the line if it goes on); return the position."""
        quote = self.quote
        if quote == b"/*":
            while pos < len(line):
                if line.startswith(b"/*", pos):
                    self.depth, pos = self.depth + 1, pos + 2
                elif line.startswith(b"*/", pos):
                    self.depth, pos = self.depth - 1, pos + 2
                    if self.depth == 0:
                        self.quote = None
                        return pos
                else:
                    pos += 1
            return pos
        if quote in (b"'", b"E'", b'"'):
            closing = quote[-1:]
            while True:
                end = line.find(closing, pos)
                if end < 0:
                    return len(line)
                if quote == b"E'" and _escaped(line, end):
                    pos = end + 1
                    continue
                if line[end + 1 : end + 2] == closing:  # '' or "" inside
                    pos = end + 2
                    continue
                self.quote = None
                self.skeleton += closing
                return end + 1
        end = line.find(quote, pos)  # a dollar-quoted body
        if end < 0:
            return len(line)
        self.quote = None
        self.skeleton += b"$$"
        return end + len(quote)

    def _end_statement(self) -> Iterator[bytes]:
        skeleton = b" ".join(bytes(self.skeleton).split()).upper()
        text = bytes(self.text)
        self.text, self.skeleton = bytearray(), bytearray()
        if _DROPPED.match(skeleton):
            return  # its leading comment goes with it; what follows on the line is kept
        self.copying = bool(_COPY_FROM_STDIN.match(skeleton))
        yield text

    def _flush(self) -> Iterator[bytes]:
        if self.text:
            yield bytes(self.text)
        self.text, self.skeleton = bytearray(), bytearray()

    def finish(self) -> Iterator[bytes]:
        yield from self._flush()


def _ident_before(line: bytes, at: int) -> bool:
    """Whether the byte before ``at`` continues an identifier (so ``$`` or ``E`` belongs to it)."""
    return at > 0 and _IDENT_CHAR.match(line, at - 1) is not None


def _escaped(line: bytes, at: int) -> bool:
    """Whether the quote at ``at`` is escaped by an odd number of backslashes (E'' strings)."""
    count = 0
    while at - count - 1 >= 0 and line[at - count - 1] == 0x5C:
        count += 1
    return count % 2 == 1
