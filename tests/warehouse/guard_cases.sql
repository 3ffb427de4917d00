-- Golden cases for the read-only SQL guard (DuckDB dialect, limit 100, max 10000).
-- Each case: a "-- case:" line naming it, the SQL, then either "-- => <SQL that will run>" or
-- "-- refused: <words the error must contain>".

-- case: plain select gets the limit
select * from orders
-- => SELECT * FROM orders LIMIT 100

-- case: a smaller limit is kept
select id from orders order by id limit 5
-- => SELECT id FROM orders ORDER BY id LIMIT 5

-- case: a larger limit is capped from outside
select id from orders limit 50000
-- => SELECT * FROM (SELECT id FROM orders LIMIT 50000) AS guarded LIMIT 100

-- case: set operations are capped from outside
select a from t union all select a from u
-- => SELECT * FROM (SELECT a FROM t UNION ALL SELECT a FROM u) AS guarded LIMIT 100

-- case: CTEs and schema-qualified tables
with recent as (select * from raw.orders where created_at > now() - interval 7 day) select count(*) from recent
-- => WITH recent AS (SELECT * FROM raw.orders WHERE created_at > NOW() - INTERVAL '7' DAY) SELECT COUNT(*) FROM recent LIMIT 100

-- case: computing table functions are fine
select * from range(3) r
-- => SELECT * FROM RANGE(0, 3) AS r LIMIT 100

-- case: a trailing semicolon is one statement
select 1;
-- => SELECT 1 LIMIT 100

-- case: two statements
select 1; select 2
-- refused: holds 2 statements

-- case: DDL
drop table orders
-- refused: DROP statement

-- case: DML
delete from orders
-- refused: DELETE statement

-- case: DML hidden in a CTE (PostgreSQL syntax parses too)
with x as (insert into t values (1) returning *) select * from x
-- refused: contains INSERT

-- case: SELECT INTO writes
select * into copy_of_orders from orders
-- refused: contains INTO

-- case: row locks
select * from orders for update
-- refused: contains LOCK

-- case: reading a file through a function
select * from read_csv('/etc/passwd')
-- refused: read_csv

-- case: reading a file through a scalar function
select read_text('/etc/passwd')
-- refused: read_text

-- case: reading a file by naming it as a table
select * from '/etc/passwd'
-- refused: looks like a file path

-- case: reading a file by quoting its name
select * from "orders.parquet"
-- refused: looks like a file path

-- case: another database
select * from sqlite_scan('/data/other.db', 'users')
-- refused: sqlite_scan

-- case: running a SQL string
select * from query_table('orders')
-- refused: query_table

-- case: server settings
select * from duckdb_settings()
-- refused: duckdb_settings

-- case: environment
select getenv('HOME')
-- refused: getenv

-- case: attaching
attach '/tmp/x.db' as x
-- refused: ATTACH statement

-- case: configuration
set enable_external_access = true
-- refused: SET statement

-- case: extensions
install httpfs
-- refused: INSTALL statement

-- case: copying out
copy orders to '/tmp/out.csv'
-- refused: COPY statement

-- case: pragmas
pragma database_list
-- refused: PRAGMA statement

-- case: malformed SQL names the place
select * from orders where
-- refused: does not parse at line 1

-- case: empty
   
-- refused: is empty

-- case: a quoted function name is still the function
select "current_setting"('secret_directory')
-- refused: current_setting

-- case: a table function after LATERAL is still a table function
select s.* from (select 1) x, lateral pragma_version() s
-- refused: the table function pragma_version()

-- case: SQL text run through a quoted table function after LATERAL
select * from (select 1) x, lateral "query"('select * from duckdb_settings()') q
-- refused: query()

-- case: SQL text through serialization
select * from (select 1) x, lateral json_execute_serialized_sql(json_serialize_sql('select 1')) q
-- refused: json_execute_serialized_sql

-- case: settings through a catalog view
select * from pg_catalog.pg_settings
-- refused: not part of this warehouse

-- case: settings through an unqualified catalog view
select * from pg_settings
-- refused: system catalog

-- case: metadata through information_schema
select * from information_schema.tables
-- refused: not part of this warehouse

-- case: another database through a three-part name
select * from other.raw.orders
-- refused: names another database

-- case: schemas of the warehouse are fine
select * from staging.orders o join marts.revenue r using (id)
-- => SELECT * FROM staging.orders AS o JOIN marts.revenue AS r USING (id) LIMIT 100

-- case: a percentage limit is capped from outside
select * from raw.t limit 50 percent
-- => SELECT * FROM (SELECT * FROM raw.t LIMIT 50 PERCENT) AS guarded LIMIT 100

-- case: a checkpoint is not a read
select checkpoint()
-- refused: checkpoint
