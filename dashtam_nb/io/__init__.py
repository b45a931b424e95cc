"""DataFrames in and out of PostgreSQL, fast.

Each module is the verb a user calls: `fetch` (a query to a frame, ADBC for
large results in the session's snapshot), `stream` (bounded chunks), `load`
(binary COPY into a table). Below them: `adbc` (the ADBC connection pool),
`copy` (the COPY statement and its error mapping), `coerce` (frame column ->
column type, exact or refused) and `pgbinary` (the binary COPY encoder).
"""

__all__: list[str] = []
