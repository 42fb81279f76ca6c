// A Node.js host for the Duck Creek connector component, through jco's bindings and the
// preview2 shim's wasi:http (run `npm ci && npm run transpile` first).
//
// usage: node host.mjs CONNECTION.json import
//        node host.mjs CONNECTION.json validate
//        node host.mjs CONNECTION.json destinations
//        node host.mjs CONNECTION.json enable|disable ACCOUNT [ACCOUNT_ID]
//
// CONNECTION.json is a flat object of Saviynt attributes; JSON-valued attributes may be
// objects. Prints JSON on stdout; exits 1 with the connector's error on stderr.
//
// The egress policy: before anything can be sent, the host asks the connector for the
// connection's `destinations` and lets requests reach only those (`egress.mjs`, which the
// bindings use as wasi:http/outgoing-handler). What dcconn adds and this example leaves to you:
// secrets kept out of the component, limits, and a store.
import { readFileSync } from 'node:fs';
import { allowOnly } from './egress.mjs';
import { connector } from './out/duckcreek_connector.js';

const [connectionFile, command, account, accountId] = process.argv.slice(2);
const attributes = JSON.parse(readFileSync(connectionFile, 'utf8'));
// A WIT record is a plain object with camelCase fields; a list is an Array.
const connection = Object.entries(attributes).map(([name, value]) => ({
  name,
  value: typeof value === 'string' ? value : JSON.stringify(value),
}));

// A result's error is thrown: the connector-error itself, or an Error carrying it as `payload`.
function failed(error) {
  const connectorError = error?.payload ?? error;
  if (!connectorError?.kind?.tag) throw error;
  const { kind, site } = connectorError;
  const where = site ? { plan: site.plan, call: site.call, account: site.account ?? null } : null;
  process.stderr.write(`${JSON.stringify({ kind: kind.tag, detail: kind.val ?? null, site: where })}\n`);
  process.exit(1);
}

const columns = (items) => items.map((column) => [column.name, column.value]);

// list<destination>: records with camelCase fields; an absent option is `undefined`.
function destinations() {
  return connector.destinations(connection).map((d) => ({
    attribute: d.attribute,
    location: d.location ?? null,
    scheme: d.scheme,
    host: d.host,
    port: d.port,
    pathAndQuery: d.pathAndQuery,
  }));
}

// Requests may go only where the connector says the connection needs (nothing, when the
// connection has errors: the call that follows reports them).
function allowTheConnectionsDestinations() {
  try {
    allowOnly(destinations());
  } catch {
    allowOnly([]);
  }
}

function runImport() {
  const out = { accounts: [], 'account-details': [], entitlements: [] };
  const run = connector.startImport(connection, { scope: 'all', maxBatch: 0 });
  try {
    // option<batch>: undefined once the import is complete; a variant is { tag, val }.
    for (let batch; (batch = run.next()) !== undefined;) {
      for (const item of batch.val) {
        if (batch.tag === 'entitlements') {
          out.entitlements.push({ type: item.entitlementType, value: item.value, columns: columns(item.columns) });
        } else {
          out[batch.tag].push({
            name: item.name,
            columns: columns(item.columns),
            links: item.entitlements.map((link) => [link.entitlementType, link.value]),
          });
        }
      }
    }
  } finally {
    run[Symbol.dispose](); // drops the import-run resource
  }
  return out;
}

function provision(enable) {
  const request = {
    account: {
      name: account,
      columns: accountId ? [{ name: 'accountID', value: accountId }] : [],
      entitlements: [],
    },
    user: [],
  };
  const outcome = enable
    ? connector.enableAccount(connection, request)
    : connector.disableAccount(connection, request);
  // The whole provisioning-outcome record: an absent option is `undefined` (null in JSON), a
  // list<u32> a Uint32Array.
  return {
    captured: columns(outcome.captured),
    comments: outcome.comments ?? null,
    accountUpdates: columns(outcome.accountUpdates),
    skippedCalls: Array.from(outcome.skippedCalls),
  };
}

let result;
try {
  allowTheConnectionsDestinations();
  if (command === 'destinations') {
    result = destinations();
  } else if (command === 'validate') {
    result = connector.validate(connection).map((p) => ({
      severity: p.severity, attribute: p.attribute, location: p.location ?? null, message: p.message,
    }));
  } else if (command === 'import') {
    result = runImport();
  } else if (command === 'enable' || command === 'disable') {
    result = provision(command === 'enable');
  } else {
    process.stderr.write('usage: node host.mjs CONNECTION.json import|validate|destinations|enable|disable [ACCOUNT [ACCOUNT_ID]]\n');
    process.exit(2);
  }
} catch (error) {
  failed(error);
}
process.stdout.write(`${JSON.stringify(result)}\n`);
