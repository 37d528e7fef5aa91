"""The contracts themselves: valid, closed, money-safe, PII-marked, and compatible over versions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from rapport.contracts.catalog import ContractError, default_catalog, load_catalog
from registry.compatibility import CompatibilityLevel, check_compatibility

pytestmark = pytest.mark.unit

CATALOG = default_catalog()
ALL = list(CATALOG)
EXPECTED_TYPES = {
    "OrderPlaced", "OrderCancelled", "OrderShipped",
    "CustomerRegistered", "CustomerLoggedIn", "CustomerProfileUpdated",
    "InventoryAdjusted",
    "InvoiceIssued", "PaymentCaptured", "RefundIssued",
}  # fmt: skip


def objects(node: Any, path: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield path, node
        for key, value in node.items():
            yield from objects(value, f"{path}/{key}")


def test_every_domain_event_has_a_contract() -> None:
    assert set(CATALOG.event_types()) == EXPECTED_TYPES
    assert CATALOG.domains() == ["billing", "customers", "inventory", "orders"]


@pytest.mark.parametrize("contract", ALL, ids=lambda c: f"{c.event_type}.v{c.version}")
def test_contract_is_a_valid_draft_2020_12_schema(contract: Any) -> None:
    Draft202012Validator.check_schema(contract.schema)
    assert contract.schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("contract", ALL, ids=lambda c: f"{c.event_type}.v{c.version}")
def test_every_object_is_a_closed_content_model(contract: Any) -> None:
    # Closed models make "add an optional field" a BACKWARD-compatible change.
    for path, node in objects(contract.schema):
        assert node.get("additionalProperties") is False, path


@pytest.mark.parametrize("contract", ALL, ids=lambda c: f"{c.event_type}.v{c.version}")
def test_money_is_never_a_number(contract: Any) -> None:
    for path, node in objects(contract.schema):
        for name, prop in node["properties"].items():
            if name in {"amount", "total", "unit_price"}:
                assert prop["type"] == "string", f"{path}/{name}"
                assert prop["x-rapport-type"] == "decimal(17,2)"
            assert prop.get("type") != "number", f"{path}/{name}: floats are not allowed"


@pytest.mark.parametrize("contract", ALL, ids=lambda c: f"{c.event_type}.v{c.version}")
def test_personal_data_is_marked(contract: Any) -> None:
    for name in ("email", "name"):
        if name in contract.schema["properties"]:
            assert name in contract.pii_fields()


def test_orderplaced_v2_is_backward_compatible_with_v1() -> None:
    v1, v2 = CATALOG.get("OrderPlaced", 1), CATALOG.get("OrderPlaced", 2)
    assert check_compatibility(v2.schema, [v1.schema], CompatibilityLevel.BACKWARD_TRANSITIVE) == []
    # Not FORWARD: v1 is a closed model, so a v1 reader refuses v2's coupon_code.
    forward = check_compatibility(v2.schema, [v1.schema], CompatibilityLevel.FORWARD)
    assert [p.path for p in forward] == ["#/properties/coupon_code"]


def test_subjects_and_schema_uris_are_unique() -> None:
    uris = [c.schema_uri for c in ALL]
    assert len(uris) == len(set(uris))
    assert CATALOG.latest("OrderPlaced").subject == "rapport.orders.OrderPlaced"
    assert CATALOG.by_schema_uri("urn:rapport:contracts:orders:OrderPlaced:v1") is CATALOG.get(
        "OrderPlaced", 1
    )


def test_unknown_type_and_version_are_clear_errors() -> None:
    with pytest.raises(ContractError, match=r"known: "):
        CATALOG.latest("OrderTeleported")
    with pytest.raises(ContractError, match=r"no version 9"):
        CATALOG.get("OrderPlaced", 9)


def test_a_misnamed_contract_file_is_rejected(tmp_path: Any) -> None:
    (tmp_path / "orders").mkdir()
    (tmp_path / "orders" / "OrderPlaced.v1.json").write_text('{"x-rapport": {"domain": "billing"}}')
    with pytest.raises(ContractError, match=r"x-rapport\.domain"):
        load_catalog(tmp_path)
