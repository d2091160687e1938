"""SQLite storage for orders (ADR-002). One connection per request; each write is a transaction."""

import json
import sqlite3
import uuid
from datetime import datetime, timezone

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id          TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    items       TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'placed',
    created_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_by_customer ON orders (customer_id, created_at);
"""


def connect(path: str) -> sqlite3.Connection:
    """Open the database and make sure the schema exists."""
    conn = sqlite3.connect(path, timeout=5.0)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(SCHEMA)
    return conn


def insert_order(conn: sqlite3.Connection, customer_id: str, items: list[dict]) -> dict:
    """Store a new order and return it."""
    order = {
        "id": str(uuid.uuid4()),
        "customer_id": customer_id,
        "items": items,
        "status": "placed",
        "created_at": datetime.now(timezone.utc).isoformat(),
    }
    with conn:
        conn.execute(
            "INSERT INTO orders (id, customer_id, items, status, created_at) VALUES (?, ?, ?, ?, ?)",
            (order["id"], customer_id, json.dumps(items), order["status"], order["created_at"]),
        )
    return order


def get_order(conn: sqlite3.Connection, order_id: str) -> dict | None:
    """Fetch one order by id, or None."""
    row = conn.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()
    if row is None:
        return None
    return {**dict(row), "items": json.loads(row["items"])}
