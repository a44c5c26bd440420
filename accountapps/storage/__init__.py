"""The database: connections, models, migrations, and what makes them fast.

``db`` opens and pools connections and runs write transactions (with the
SQLite ``writer_queue``); ``models`` are the tables; ``migrations`` version them;
``sql``, ``query_shapes`` and ``row_counts`` are the performance devices that
serve them (fixed-shape statements, SQL built once per query shape, kept row
counts), each behind the interface it speeds up; ``jsoncodec`` encodes stored JSON.

May import nothing else of the package.
"""
