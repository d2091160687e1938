"""API tests: each runs against a fresh database in a temporary directory."""

import importlib

import pytest
from fastapi.testclient import TestClient


@pytest.fixture()
def client(tmp_path, monkeypatch):
    monkeypatch.setenv("ORDERS_DATABASE_PATH", str(tmp_path / "orders.db"))
    import orders.app

    importlib.reload(orders.app)
    return TestClient(orders.app.app)


def test_create_then_read(client):
    body = {"customer_id": "c-1", "items": [{"sku": "tea-01", "quantity": 2}]}
    created = client.post("/orders", json=body)
    assert created.status_code == 201
    fetched = client.get(f"/orders/{created.json()['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["items"] == body["items"]


def test_unknown_order_is_a_problem_document(client):
    res = client.get("/orders/nope")
    assert res.status_code == 404
    assert res.headers["content-type"] == "application/problem+json"
    assert res.json()["title"] == "Order not found"


def test_too_many_items_is_refused(client, monkeypatch):
    items = [{"sku": f"sku-{i}", "quantity": 1} for i in range(51)]
    res = client.post("/orders", json={"customer_id": "c-1", "items": items})
    assert res.status_code == 422
