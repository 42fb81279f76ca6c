"""A Python host for the Duck Creek connector component, on wasmtime-py.

usage: host.py COMPONENT.wasm CONNECTION.json import
       host.py COMPONENT.wasm CONNECTION.json validate
       host.py COMPONENT.wasm CONNECTION.json destinations
       host.py COMPONENT.wasm CONNECTION.json enable|disable ACCOUNT [ACCOUNT_ID]

CONNECTION.json is a flat object of Saviynt attributes (SOAP_ENDPOINT, USERNAME, PASSWORD,
ACCOUNTS_IMPORT_JSON, ...); JSON-valued attributes may be objects. Prints JSON on stdout; exits 1
with the connector's error on stderr.

`destinations` prints the URLs the connection's requests may go to, as the connector says
(scheme, host, port, path and query). wasmtime-py's wasi:http has no hook for each request, so
this host cannot enforce them itself: allow exactly those in whatever stands between it and the
network (an egress proxy, a firewall). What dcconn adds and this example leaves to you: that
egress policy, secrets kept out of the component, limits, and a store.
"""
import json
import sys

from wasmtime import Engine, Store, WasiConfig
from wasmtime.component import Component, Linker, Record, Variant

CONNECTOR = "duckcreek:connector/connector@0.2.1"


def record(**fields):
    """A WIT record: wasmtime-py reads its fields by their kebab-case WIT names."""
    value = Record()
    for name, field in fields.items():
        setattr(value, name.replace("_", "-"), field)
    return value


def load_connection(path):
    with open(path, encoding="utf-8") as file:
        attributes = json.load(file)
    return [
        record(name=name, value=value if isinstance(value, str) else json.dumps(value))
        for name, value in attributes.items()
    ]


class Connector:
    """One instance of the component, with WASI p2 and wasi:http from wasmtime."""

    def __init__(self, wasm):
        engine = Engine()
        linker = Linker(engine)
        linker.add_wasip2()
        linker.add_wasi_http()
        self.store = Store(engine)
        self.store.set_wasi(WasiConfig())  # nothing granted: no files, no environment
        self.store.set_wasi_http()
        self.instance = linker.instantiate(self.store, Component.from_file(engine, wasm))
        self.interface = self.instance.get_export_index(self.store, CONNECTOR)

    def function(self, name):
        index = self.instance.get_export_index(self.store, name, self.interface)
        return self.instance.get_func(self.store, index)

    def call(self, name, *args):
        return self.function(name)(self.store, *args)


def failed(error):
    """A connector-error record as JSON (its kind is a variant)."""
    kind = error.kind
    payload = kind.payload
    if isinstance(payload, Record):
        payload = vars(payload)
    elif isinstance(payload, list):
        payload = [vars(item) if isinstance(item, Record) else item for item in payload]
    site = vars(error.site) if error.site is not None else None
    sys.stderr.write(json.dumps({"kind": kind.tag, "detail": payload, "site": site}) + "\n")
    sys.exit(1)


def columns(items):
    return [[column.name, column.value] for column in items]


def run_import(connector, connection):
    # A result<T, connector-error> comes back as T, or as the error record (not raised).
    run = connector.call("start-import", connection, record(scope="all", max_batch=0))
    if isinstance(run, Record):
        failed(run)
    next_batch = connector.function("[method]import-run.next")
    out = {"accounts": [], "account-details": [], "entitlements": []}
    while True:
        batch = next_batch(connector.store, run)
        if isinstance(batch, Record):
            failed(batch)
        if batch is None:  # option<batch>: none once the import is complete
            break
        for item in batch.payload:  # a variant: Variant(tag, payload)
            if batch.tag == "entitlements":
                out["entitlements"].append(
                    {"type": getattr(item, "entitlement-type"), "value": item.value,
                     "columns": columns(item.columns)})
            else:
                out[batch.tag].append(
                    {"name": item.name, "columns": columns(item.columns),
                     "links": [[getattr(link, "entitlement-type"), link.value]
                               for link in item.entitlements]})
    run.drop(connector.store)
    return out


def destinations(connector, connection):
    """The connection's destinations; a result whose ok side is a list comes back as the list,
    its error as the connector-error record."""
    found = connector.call("destinations", connection)
    if isinstance(found, Record):
        failed(found)
    return [{"attribute": d.attribute, "location": d.location, "scheme": d.scheme,
             "host": d.host, "port": d.port, "pathAndQuery": getattr(d, "path-and-query")}
            for d in found]


def provision(connector, connection, enable, name, account_id):
    account = record(
        name=name,
        columns=[record(name="accountID", value=account_id)] if account_id else [],
        entitlements=[],
    )
    request = record(account=account, user=[])
    outcome = connector.call("enable-account" if enable else "disable-account", connection, request)
    # Both sides of this result are records, so wasmtime-py tags it: Variant("ok"|"err", ...).
    if isinstance(outcome, Variant) and outcome.tag == "err":
        failed(outcome.payload)
    value = outcome.payload if isinstance(outcome, Variant) else outcome
    # The whole provisioning-outcome record: option<string> is None or the string.
    return {
        "captured": columns(value.captured),
        "comments": value.comments,
        "accountUpdates": columns(getattr(value, "account-updates")),
        "skippedCalls": list(getattr(value, "skipped-calls")),
    }


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    wasm, connection_file, command = argv[1:4]
    connector = Connector(wasm)
    connection = load_connection(connection_file)
    if command == "destinations":
        result = destinations(connector, connection)
    elif command == "validate":
        problems = connector.call("validate", connection)
        result = [{"severity": p.severity, "attribute": p.attribute, "location": p.location,
                   "message": p.message} for p in problems]
    elif command == "import":
        result = run_import(connector, connection)
    elif command in ("enable", "disable"):
        account_id = argv[5] if len(argv) > 5 else None
        result = provision(connector, connection, command == "enable", argv[4], account_id)
    else:
        sys.exit(__doc__)
    json.dump(result, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
