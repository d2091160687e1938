"""Request and response models of the orders API."""

from pydantic import BaseModel, Field


class OrderItem(BaseModel):
    sku: str = Field(min_length=1, max_length=64)
    quantity: int = Field(gt=0, le=1000)


class OrderIn(BaseModel):
    customer_id: str = Field(min_length=1, max_length=64)
    items: list[OrderItem] = Field(min_length=1)


class Order(OrderIn):
    id: str
    status: str
    created_at: str
