"""`python -m tools.migrate`: products stored before variants moved into sale records, once each, resumably."""
from __future__ import annotations

import pytest


def _legacy(number: int, stock: int = 5, status: str = "ACTIVE") -> dict:
    product_id = f"old-{number:03d}"
    return {"PK": f"PRODUCT#{product_id}", "SK": "PRODUCT", "type": "PRODUCT", "id": product_id,
            "name": f"Old {number}", "description": "", "category": "old", "price": 100 + number, "currency": "EUR",
            "stock": stock, "low_stock_threshold": 5, "status": status, "version": 1,
            "created_at": "2026-11-01T10:00:00.000Z", "updated_at": "2026-11-01T10:00:00.000Z"}


def _put(*items):
    from chalicelib.core import dynamo

    for item in items:
        dynamo.ddb().put_item(TableName=dynamo.table_name(), Item=dynamo.to_item(item))


def _stock_records() -> dict[str, int]:
    from chalicelib.core import dynamo

    found = dynamo.ddb().scan(TableName=dynamo.table_name(), FilterExpression="#t = :s",
                              ExpressionAttributeNames={"#t": "type"}, ExpressionAttributeValues={":s": {"S": "STOCK"}})
    return {dynamo.from_item(item)["product_id"]: dynamo.from_item(item)["stock"] for item in found["Items"]}


def test_a_dry_run_counts_and_moves_nothing_then_apply_moves_each_once(aws):
    from tools.migrate import migrate

    _put(*(_legacy(n, stock=n) for n in range(7)), _legacy(7, status="ARCHIVED"))
    said = []
    assert migrate(apply=False, say=said.append)["products_from_before"] == 8
    assert _stock_records() == {} and said[-1].startswith("dry run")
    assert migrate(apply=True, say=said.append) == {"products_from_before": 8, "moved": 8, "moved_meanwhile": 0}
    assert _stock_records() == {**{f"old-{n:03d}": n for n in range(7)}, "old-007": 5}
    assert migrate(apply=True, say=said.append)["products_from_before"] == 0  # idempotent


def test_it_resumes_from_the_cursor_a_page_printed(aws, monkeypatch):
    import tools.migrate as tool

    monkeypatch.setattr(tool, "PAGE", 3)
    _put(*(_legacy(n) for n in range(8)))
    said = []
    with pytest.raises(RuntimeError):
        def stop_after_the_first_page(line):
            said.append(line)
            raise RuntimeError("interrupted")
        tool.migrate(apply=True, say=stop_after_the_first_page)
    cursor = said[0].rsplit("--resume ", 1)[1]
    moved_before = len(_stock_records())
    counts = tool.migrate(apply=True, resume=cursor, say=said.append)
    assert moved_before + counts["moved"] == 8 and len(_stock_records()) == 8


def test_a_product_the_shop_moved_meanwhile_is_counted_not_moved_twice(aws, monkeypatch):
    from chalicelib.catalogue import stored
    from chalicelib.catalogue.repository import ProductRepository
    from tools.migrate import migrate

    _put(_legacy(1, stock=4))
    real = stored.move_from_before

    def the_shop_reads_it_first(item):
        monkeypatch.setattr(stored, "move_from_before", real)
        assert ProductRepository().get(item["id"]).variants[0].stock == 4  # moves it
        return real(item)

    monkeypatch.setattr(stored, "move_from_before", the_shop_reads_it_first)
    assert migrate(apply=True, say=lambda _l: None) == {"products_from_before": 1, "moved": 0, "moved_meanwhile": 1}
    assert _stock_records() == {"old-001": 4}


def test_the_stage_names_its_table():
    from tools.migrate import table_of

    assert (table_of("dev"), table_of("prod")) == ("shop-dev", "shop-prod")
    with pytest.raises(SystemExit):
        table_of("staging")
