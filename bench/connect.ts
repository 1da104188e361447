/**
 * SQL door, metadata-heavy connect: every pgbench transaction is a new
 * connection (-C) that sends what pgJDBC and psqlODBC send on connect and
 * when a BI tool lists tables and columns (from the captures in
 * /work/shared/clients), then disconnects. Connections per second through
 * labgate (API-key login, cleartext on loopback) vs PostgreSQL directly (trust).
 */
import {
  type Context,
  describe,
  directTarget,
  type Fixture,
  FOLDER,
  pgbench,
  type Workload,
} from "./_support/mod.ts";

const CLIENTS = 4;

/** The statements of one connection; `schema` is `lists` through labgate, the physical one direct. */
function connectScript(schema: string): string {
  return [
    "SET extra_float_digits = 3;",
    "SET application_name = 'PostgreSQL JDBC Driver';",
    "SET DateStyle = 'ISO';",
    "show transaction_isolation;",
    "select oid, typbasetype from pg_type where typname = 'lo';",
    ...catalogQueries(schema),
  ].join("\n") + "\n";
}

function catalogQueries(schema: string): string[] {
  return [
    // pgJDBC getSchemas()
    `SELECT nspname AS TABLE_SCHEM, NULL AS TABLE_CATALOG FROM pg_catalog.pg_namespace WHERE nspname <> 'pg_toast' AND (nspname !~ '^pg_temp_' OR nspname = (pg_catalog.current_schemas(true))[1]) AND (nspname !~ '^pg_toast_temp_' OR nspname = replace((pg_catalog.current_schemas(true))[1], 'pg_temp_', 'pg_toast_temp_')) ORDER BY TABLE_SCHEM;`,
    // pgJDBC getTables()
    `SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, c.relname AS TABLE_NAME, CASE n.nspname ~ '^pg_' OR n.nspname = 'information_schema' WHEN true THEN CASE WHEN n.nspname = 'pg_catalog' OR n.nspname = 'information_schema' THEN CASE c.relkind WHEN 'r' THEN 'SYSTEM TABLE' WHEN 'v' THEN 'SYSTEM VIEW' WHEN 'i' THEN 'SYSTEM INDEX' ELSE NULL END WHEN n.nspname = 'pg_toast' THEN CASE c.relkind WHEN 'r' THEN 'SYSTEM TOAST TABLE' WHEN 'i' THEN 'SYSTEM TOAST INDEX' ELSE NULL END ELSE CASE c.relkind WHEN 'r' THEN 'TEMPORARY TABLE' WHEN 'p' THEN 'TEMPORARY TABLE' WHEN 'i' THEN 'TEMPORARY INDEX' WHEN 'S' THEN 'TEMPORARY SEQUENCE' WHEN 'v' THEN 'TEMPORARY VIEW' ELSE NULL END END WHEN false THEN CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'i' THEN 'INDEX' WHEN 'P' then 'PARTITIONED INDEX' WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'c' THEN 'TYPE' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE NULL END ELSE NULL END AS TABLE_TYPE, d.description AS REMARKS, '' as TYPE_CAT, '' as TYPE_SCHEM, '' as TYPE_NAME, '' AS SELF_REFERENCING_COL_NAME, '' AS REF_GENERATION FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0 and d.classoid = 'pg_class'::regclass) WHERE c.relnamespace = n.oid AND c.relname LIKE '%' AND (false OR ( c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema' ) OR ( c.relkind = 'v' AND n.nspname <> 'pg_catalog' AND n.nspname <> 'information_schema' ) ) ORDER BY TABLE_TYPE,TABLE_SCHEM,TABLE_NAME;`,
    // pgJDBC getColumns()
    `SELECT * FROM (SELECT n.nspname,c.relname,a.attname,a.atttypid,a.attnotnull OR (t.typtype = 'd' AND t.typnotnull) AS attnotnull,a.atttypmod,a.attlen,t.typtypmod,row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum) AS attnum, nullif(a.attidentity, '') as attidentity,nullif(a.attgenerated, '') as attgenerated,pg_catalog.pg_get_expr(def.adbin, def.adrelid) AS adsrc,dsc.description,t.typbasetype,t.typtype FROM pg_catalog.pg_namespace n JOIN pg_catalog.pg_class c ON (c.relnamespace = n.oid) JOIN pg_catalog.pg_attribute a ON (a.attrelid=c.oid) JOIN pg_catalog.pg_type t ON (a.atttypid = t.oid) LEFT JOIN pg_catalog.pg_attrdef def ON (a.attrelid=def.adrelid AND a.attnum = def.adnum) LEFT JOIN pg_catalog.pg_description dsc ON (c.oid=dsc.objoid AND a.attnum = dsc.objsubid) LEFT JOIN pg_catalog.pg_class dc ON (dc.oid=dsc.classoid AND dc.relname='pg_class') LEFT JOIN pg_catalog.pg_namespace dn ON (dc.relnamespace=dn.oid AND dn.nspname='pg_catalog') WHERE c.relkind in ('r','p','v','f','m') and a.attnum > 0 AND NOT a.attisdropped AND n.nspname LIKE '${schema}' AND c.relname LIKE 'accounts') c WHERE true AND attname LIKE '%' ORDER BY nspname,c.relname,attnum;`,
    // pgJDBC getPrimaryKeys()
    `SELECT result.TABLE_CAT, result.TABLE_SCHEM, result.TABLE_NAME, result.COLUMN_NAME, result.KEY_SEQ, result.PK_NAME FROM (SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, ct.relname AS TABLE_NAME, a.attname AS COLUMN_NAME, (information_schema._pg_expandarray(i.indkey)).n AS KEY_SEQ, ci.relname AS PK_NAME, information_schema._pg_expandarray(i.indkey) AS KEYS, a.attnum AS A_ATTNUM FROM pg_catalog.pg_class ct JOIN pg_catalog.pg_attribute a ON (ct.oid = a.attrelid) JOIN pg_catalog.pg_namespace n ON (ct.relnamespace = n.oid) JOIN pg_catalog.pg_index i ON ( a.attrelid = i.indrelid) JOIN pg_catalog.pg_class ci ON (ci.oid = i.indexrelid) WHERE true AND n.nspname = '${schema}' AND ct.relname = 'accounts' AND i.indisprimary ) result where result.A_ATTNUM = (result.KEYS).x ORDER BY result.table_name, result.pk_name, result.key_seq;`,
    // psqlODBC SQLTables()
    `select relname, nspname, relkind from pg_catalog.pg_class c, pg_catalog.pg_namespace n where relkind in ('r', 'v', 'm', 'f', 'p') and nspname not in ('pg_catalog', 'information_schema', 'pg_toast', 'pg_temp_1') and n.oid = relnamespace order by nspname, relname;`,
  ];
}

function physicalSchema(fixture: Fixture): string {
  return fixture.accountsTable.split(".")[0];
}

export const connectWorkload: Workload = {
  name: "connect",
  title: "SQL door: metadata-heavy connect, connections per second",
  run: async (ctx: Context) => {
    const fixture = await ctx.fixture();
    const labgate = await ctx.labgate("connect");
    try {
      const options = { clients: CLIENTS, seconds: ctx.seconds, mode: ctx.mode, reconnect: true };
      const direct = await pgbench(
        directTarget(fixture),
        connectScript(physicalSchema(fixture)),
        options,
      );
      ctx.report.measure("connect", `PostgreSQL, ${CLIENTS} clients`, { connPerS: direct.rate });
      const door = await pgbench(
        {
          name: "labgate",
          port: labgate.sqlPort,
          user: "apikey",
          password: fixture.apiKey,
          database: FOLDER,
        },
        connectScript("lists"),
        options,
      );
      ctx.report.measure("connect", `labgate, ${CLIENTS} clients`, {
        connPerS: door.rate,
        p50Ms: door.p50Ms,
        p99Ms: door.p99Ms,
      });
      ctx.report.compare({
        workload: "connect",
        figure: `labgate, ${CLIENTS} clients`,
        value: describe(door, "conn/s"),
        against: `PostgreSQL: ${describe(direct, "conn/s")}`,
        ratio: door.rate / direct.rate,
        target: { op: ">=", value: 0.9 },
      });
    } finally {
      await ctx.stop("connect", labgate);
    }
  },
};
