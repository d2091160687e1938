"""Runtime settings, read once from the environment at start-up."""

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    database_path: str
    log_level: str
    max_order_items: int


def load() -> Settings:
    """Build settings from ORDERS_* environment variables, with safe defaults."""
    return Settings(
        database_path=os.environ.get("ORDERS_DATABASE_PATH", "orders.db"),
        log_level=os.environ.get("ORDERS_LOG_LEVEL", "INFO"),
        max_order_items=int(os.environ.get("ORDERS_MAX_ITEMS", "50")),
    )
