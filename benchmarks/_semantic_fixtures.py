"""Models, data and queries of benchmarks/semantic_api.py.

A 30-cube snowflake: the fact cube ``sales`` joins many_to_one to 12 dimension cubes, some of
which join on to further ones (stores → cities → regions → countries → continents, products →
subcategories → categories → departments, ...). Every table is generated inside DuckDB with
``range()``; ids and foreign keys are deterministic.
"""

from __future__ import annotations

# cube → (rows, parent cube it hangs off, the foreign key column on the parent)
DIMENSIONS: dict[str, tuple[int, str, str]] = {
    "stores": (200, "sales", "store_id"),
    "cities": (80, "stores", "city_id"),
    "regions": (20, "cities", "region_id"),
    "countries": (10, "regions", "country_id"),
    "continents": (4, "countries", "continent_id"),
    "products": (2_000, "sales", "product_id"),
    "brands": (60, "products", "brand_id"),
    "manufacturers": (15, "brands", "manufacturer_id"),
    "subcategories": (120, "products", "subcategory_id"),
    "categories": (24, "subcategories", "category_id"),
    "departments": (6, "categories", "department_id"),
    "customers": (20_000, "sales", "customer_id"),
    "segments": (5, "customers", "segment_id"),
    "loyalty_tiers": (4, "customers", "loyalty_tier_id"),
    "promotions": (300, "sales", "promotion_id"),
    "promo_types": (8, "promotions", "promo_type_id"),
    "channels": (6, "sales", "channel_id"),
    "currencies": (12, "sales", "currency_id"),
    "employees": (500, "sales", "employee_id"),
    "teams": (40, "employees", "team_id"),
    "divisions": (5, "teams", "division_id"),
    "shippers": (10, "sales", "shipper_id"),
    "warehouses": (25, "sales", "warehouse_id"),
    "suppliers": (50, "warehouses", "supplier_id"),
    "payments": (7, "sales", "payment_id"),
    "devices": (9, "sales", "device_id"),
    "platforms": (3, "devices", "platform_id"),
    "campaigns": (150, "sales", "campaign_id"),
    "campaign_types": (6, "campaigns", "campaign_type_id"),
}
FACT = "sales"
STAR_CUBES = 1 + len(DIMENSIONS)
assert STAR_CUBES == 30

# The representative query: members of 4 cubes (sales, regions, brands, channels); the join
# tree also takes in stores, cities and products. Filters on a dimension cube and on the fact,
# a monthly time dimension over a relative range, an order and a limit.
STAR_QUERY = {
    "measures": ["sales.revenue", "sales.count", "sales.average_order_value"],
    "dimensions": ["regions.name", "brands.name"],
    "timeDimensions": [
        {"dimension": "sales.sold_at", "granularity": "month", "dateRange": "last 12 months"}
    ],
    "filters": [
        {"member": "channels.name", "operator": "equals", "values": ["channels 1", "channels 2"]},
        {"member": "sales.amount", "operator": "gt", "values": ["5"]},
    ],
    "order": {"sales.revenue": "desc"},
    "limit": 100,
}
# The fact cube alone (no joins): the cheapest query to compile, for reference.
SIMPLE_QUERY = {
    "measures": ["sales.count"],
    "timeDimensions": [
        {"dimension": "sales.sold_at", "granularity": "month", "dateRange": "last 12 months"}
    ],
}


def _children(parent: str) -> list[tuple[str, str]]:
    return [(cube, fk) for cube, (_, p, fk) in DIMENSIONS.items() if p == parent]


def _dimension_cube(name: str) -> str:
    joins = "".join(
        f"      - name: {child}\n"
        "        relationship: many_to_one\n"
        f'        sql: "{{CUBE}}.{fk} = {{{child}.id}}"\n'
        for child, fk in _children(name)
    )
    fks = "".join(
        f"      - name: {fk}\n        sql: {fk}\n        type: number\n        public: false\n"
        for _, fk in _children(name)
    )
    return f"""  - name: {name}
    sql_table: marts.sf_{name}
    refresh_key:
      every: 1 hour
{"    joins:" + chr(10) + joins if joins else ""}    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: name
        sql: name
        type: string
      - name: code
        sql: code
        type: string
      - name: rank
        sql: rank
        type: number
      - name: is_active
        sql: is_active
        type: boolean
      - name: created_at
        sql: created_at
        type: time
{fks}    measures:
      - name: count
        type: count
      - name: total_rank
        sql: rank
        type: sum
      - name: avg_rank
        sql: rank
        type: avg
      - name: active_count
        type: count
        filters:
          - sql: "{{CUBE}}.is_active"
"""


def _fact_cube() -> str:
    joins = "".join(
        f"      - name: {child}\n"
        "        relationship: many_to_one\n"
        f'        sql: "{{CUBE}}.{fk} = {{{child}.id}}"\n'
        for child, fk in _children(FACT)
    )
    fks = "".join(
        f"      - name: {fk}\n        sql: {fk}\n        type: number\n        public: false\n"
        for _, fk in _children(FACT)
    )
    return f"""  - name: {FACT}
    sql_table: marts.sf_{FACT}
    refresh_key:
      every: 1 hour
    joins:
{joins}    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: amount
        sql: amount
        type: number
      - name: quantity
        sql: quantity
        type: number
      - name: status
        sql: status
        type: string
      - name: is_big
        sql: "{{amount}} > 100"
        type: boolean
      - name: sold_at
        sql: sold_at
        type: time
{fks}    measures:
      - name: count
        type: count
      - name: revenue
        sql: amount
        type: sum
        format: currency
      - name: units
        sql: quantity
        type: sum
      - name: avg_amount
        sql: amount
        type: avg
      - name: max_amount
        sql: amount
        type: max
      - name: customers
        sql: customer_id
        type: count_distinct
      - name: average_order_value
        sql: "{{revenue}} / NULLIF({{count}}, 0)"
        type: number
      - name: refunded_revenue
        sql: amount
        type: sum
        filters:
          - sql: "{{CUBE}}.status = 'refunded'"
    segments:
      - name: big
        sql: "{{CUBE}}.amount > 100"
"""


def star_files() -> dict[str, str]:
    """The 30-cube model: the fact cube in one file, the dimension cubes in another."""
    dims = "".join(_dimension_cube(name) for name in DIMENSIONS)
    return {"sales.yml": "cubes:\n" + _fact_cube(), "dimensions.yml": "cubes:\n" + dims}


def star_tables_sql(fact_rows: int) -> list[str]:
    """CREATE statements of the 30 tables (marts.sf_*); sales are spread over the 2 years
    before today, so relative date ranges find rows."""
    out = []
    for name, (rows, _, _) in DIMENSIONS.items():
        fks = "".join(
            f", 1 + hash(i, '{fk}') % {DIMENSIONS[child][0]} AS {fk}"
            for child, fk in _children(name)
        )
        out.append(
            f"CREATE OR REPLACE TABLE marts.sf_{name} AS SELECT i AS id, "
            f"'{name} ' || i AS name, 'C' || (i % 7) AS code, i % 100 AS rank, "
            "i % 3 = 0 AS is_active, TIMESTAMP '2020-01-01' + to_days(i::INTEGER) AS created_at"
            f"{fks} FROM range(1, {rows + 1}) AS t(i)"
        )
    fks = "".join(
        f", 1 + hash(i, '{fk}') % {DIMENSIONS[child][0]} AS {fk}" for child, fk in _children(FACT)
    )
    seconds = 2 * 365 * 86400
    out.append(
        f"CREATE OR REPLACE TABLE marts.sf_{FACT} AS SELECT i AS id, "
        "CAST((hash(i, 'amount') % 20000) / 100 AS DECIMAL(12, 2)) AS amount, "
        "1 + hash(i, 'qty') % 5 AS quantity, "
        "CASE WHEN i % 17 = 0 THEN 'refunded' ELSE 'paid' END AS status, "
        f"CAST(current_date AS TIMESTAMP) - to_seconds(((i * {seconds}) // {fact_rows})::BIGINT)"
        f" AS sold_at{fks} FROM range(1, {fact_rows + 1}) AS t(i)"
    )
    return out


# The pre-aggregation part: the same table behind two cubes, one with a rollup.
EVENT_CATEGORIES = 10
EVENT_STORES = 50
EVENTS_START = "2023-01-01"  # created_at spans 2 years from here
ROLLUP_QUERY_RANGE = ["2024-01-01", "2024-12-31"]


def events_table_sql(rows: int) -> str:
    seconds = 2 * 365 * 86400
    return (
        "CREATE OR REPLACE TABLE marts.bench_events AS SELECT i AS id, "
        f"CAST(1 + hash(i, 'store') % {EVENT_STORES} AS INTEGER) AS store_id, "
        f"'category_' || (hash(i, 'category') % {EVENT_CATEGORIES}) AS category, "
        f"TIMESTAMP '{EVENTS_START}' + to_seconds(((i * {seconds}) // {rows})::BIGINT) "
        "AS created_at, "
        "CAST((hash(i, 'amount') % 100000) / 100 AS DECIMAL(12, 2)) AS amount "
        f"FROM range(0, {rows}) AS t(i)"
    )


def _events_cube(name: str, rollup: bool) -> str:
    pre = (
        """    pre_aggregations:
      - name: daily
        measures: [count, amount]
        dimensions: [category, store_id]
        time_dimension: created_at
        granularity: day
        partition_granularity: month
"""
        if rollup
        else ""
    )
    return f"""  - name: {name}
    sql_table: marts.bench_events
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: store_id
        sql: store_id
        type: number
      - name: category
        sql: category
        type: string
      - name: created_at
        sql: created_at
        type: time
    measures:
      - name: count
        type: count
      - name: amount
        sql: amount
        type: sum
{pre}"""


def events_files() -> dict[str, str]:
    """``events_raw`` (no pre-aggregation) and ``events`` (a daily rollup) on one table."""
    body = _events_cube("events_raw", False) + _events_cube("events", True)
    return {"events.yml": "cubes:\n" + body}


def events_query(cube: str) -> dict:
    """Sum and count by category by month over one year."""
    return {
        "measures": [f"{cube}.amount", f"{cube}.count"],
        "dimensions": [f"{cube}.category"],
        "timeDimensions": [
            {
                "dimension": f"{cube}.created_at",
                "granularity": "month",
                "dateRange": ROLLUP_QUERY_RANGE,
            }
        ],
        "order": [[f"{cube}.created_at.month", "asc"], [f"{cube}.category", "asc"]],
        "limit": 1000,
    }


def org_file(i: int) -> dict[str, str]:
    """A small model file of organization ``i``'s own, next to the demo template."""
    return {
        f"org_{i}.yml": f"""cubes:
  - name: tickets_{i}
    sql_table: marts.tickets
    joins:
      - name: customers
        relationship: many_to_one
        sql: "{{CUBE}}.customer_id = {{customers.customer_id}}"
    dimensions:
      - name: id
        sql: id
        type: number
        primary_key: true
      - name: priority
        sql: priority
        type: string
      - name: opened_at
        sql: opened_at
        type: time
    measures:
      - name: count
        type: count
      - name: hours
        sql: hours
        type: sum
"""
    }
