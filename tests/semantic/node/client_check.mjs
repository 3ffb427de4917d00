// Runs the official Cube client (@cubejs-client/core, installed outside the repo) against a
// live Tenantry and prints one JSON object with what the client saw; the pytest
// tests/semantic/test_cube_client.py asserts it. Exits non-zero (message on stderr) on failure.
//
// Environment:
//   CUBE_CLIENT_DIR  a directory whose node_modules holds @cubejs-client/core
//   CUBE_API_URL     e.g. http://127.0.0.1:8000/cubejs-api/v1
//   CUBE_TOKEN       a token minted by POST /api/v1/orgs/{org}/semantic/tokens
//   CUBE_CHECK       JSON: {load, relative, slow, sql, badToken} (queries and the bad token)

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

function need(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

// Load the package the way `import cube from '@cubejs-client/core'` does (its ESM build),
// from the given directory rather than from next to this script.
async function loadClient(dir) {
  const root = join(dir, 'node_modules', '@cubejs-client', 'core');
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const entry = pkg.exports['.'].import;
  const mod = await import(pathToFileURL(join(root, entry)).href);
  return { cube: mod.default, version: pkg.version };
}

async function timed(fn) {
  const began = Date.now();
  const value = await fn();
  return { value, ms: Date.now() - began };
}

function resultOf(resultSet) {
  return {
    tablePivot: resultSet.tablePivot(),
    chartPivot: resultSet.chartPivot(),
    series: resultSet.series(),
    rawData: resultSet.rawData(),
    tableColumns: resultSet.tableColumns().map((c) => ({ key: c.key, type: c.type })),
    totalRows: resultSet.totalRows() ?? null,
    query: resultSet.query(),
    loadResponse: resultSet.serialize().loadResponse.results[0],
  };
}

async function main() {
  const { cube, version } = await loadClient(need('CUBE_CLIENT_DIR'));
  const apiUrl = need('CUBE_API_URL');
  const check = JSON.parse(need('CUBE_CHECK'));
  const api = cube(need('CUBE_TOKEN'), { apiUrl });
  const out = { clientVersion: version };

  out.load = resultOf(await api.load(check.load));
  // The same query sent as POST, with numeric members cast to numbers by the client (it reads
  // their types from the response's annotation).
  const posting = cube(need('CUBE_TOKEN'), { apiUrl, method: 'POST', castNumerics: true });
  out.loadPost = (await posting.load(check.load)).tablePivot();
  out.relative = resultOf(await api.load(check.relative));

  const meta = await api.meta();
  out.meta = {
    cubes: meta.cubes.map((c) => ({
      name: c.name,
      measures: c.measures.map((m) => m.name),
      dimensions: c.dimensions.map((d) => d.name),
      segments: c.segments.map((s) => s.name),
    })),
    timeDimensions: meta.membersGroupedByCube().timeDimensions.map((g) => ({
      cube: g.cubeName,
      members: g.members.map((m) => m.name),
    })),
    resolved: meta.resolveMember('orders.revenue', 'measures'),
    filterOperators: meta.filterOperatorsForMember('orders.amount', 'dimensions').map((o) => o.name),
  };

  const sqlQuery = await api.sql(check.sql);
  out.sql = { sql: sqlQuery.sql(), raw: sqlQuery.rawQuery() };

  // A query slower than the server's continue-wait time, asked by two clients at once: each
  // gets "Continue wait" first and re-requests on its own until the result is there.
  const slowRuns = await Promise.all(
    [0, 1].map(async () => {
      const progress = [];
      const client = cube(need('CUBE_TOKEN'), { apiUrl });
      const { value, ms } = await timed(() =>
        client.load(check.slow, { progressCallback: (p) => progress.push(p.progressResponse) }),
      );
      return { ...resultOf(value), ms, continueWaits: progress };
    }),
  );
  out.slow = slowRuns;

  // A token the server refuses: the client rejects with the server's message and status.
  try {
    await cube(check.badToken, { apiUrl }).load(check.load);
    out.badToken = { rejected: false };
  } catch (error) {
    out.badToken = {
      rejected: true,
      name: error.constructor.name,
      message: error.message,
      status: error.status ?? null,
      response: error.response ?? null,
    };
  }

  process.stdout.write(JSON.stringify(out));
}

main().catch((error) => {
  const detail = error instanceof Error ? `${error.message}\n${error.stack}` : String(error);
  process.stderr.write(`client_check failed: ${detail}\n`);
  if (error && error.response) process.stderr.write(`response: ${JSON.stringify(error.response)}\n`);
  process.exit(1);
});
