"""HTTP API of the orders service (FastAPI). Errors are RFC 7807 problem details (ADR-003)."""

import logging

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from . import db, settings
from .models import Order, OrderIn

log = logging.getLogger("orders")
config = settings.load()
app = FastAPI(title="orders", version="1.4.0")


def problem(status: int, title: str, detail: str) -> JSONResponse:
    """An RFC 7807 problem-details response."""
    return JSONResponse(
        status_code=status,
        content={"type": "about:blank", "title": title, "status": status, "detail": detail},
        media_type="application/problem+json",
    )


@app.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@app.post("/orders", status_code=201, response_model=Order)
def create_order(order: OrderIn):
    if len(order.items) > config.max_order_items:
        return problem(422, "Too many items", f"An order holds at most {config.max_order_items} items.")
    conn = db.connect(config.database_path)
    try:
        created = db.insert_order(conn, order.customer_id, [i.model_dump() for i in order.items])
    finally:
        conn.close()
    log.info("order placed", extra={"order_id": created["id"], "items": len(order.items)})
    return created


@app.get("/orders/{order_id}", response_model=Order)
def read_order(order_id: str):
    conn = db.connect(config.database_path)
    try:
        found = db.get_order(conn, order_id)
    finally:
        conn.close()
    if found is None:
        return problem(404, "Order not found", f"No order has id {order_id}.")
    return found
