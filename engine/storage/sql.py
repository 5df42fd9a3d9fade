"""What every storage area shares: the connection type and Arrow inserts. A leaf module, so the
areas never import the package that imports them (`engine.storage` creates their schemas)."""
from __future__ import annotations

from typing import Sequence

import duckdb
import pyarrow as pa

Con = duckdb.DuckDBPyConnection


def insert_arrow(con: Con, sql: str, table: pa.Table, params: Sequence = ()) -> None:
    """Run `sql` (which reads from the view `batch`) over an Arrow table."""
    con.register("batch", table)
    try:
        con.execute(sql, list(params))
    finally:
        con.unregister("batch")
