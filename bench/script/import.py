"""Imports Duck Creek users, roles, entities and privileges into SQLite: the script an
administrator would write by hand, the script reference of `make bench` (see BENCHMARKS.md).

    DCBENCH_PASSWORD=... python import.py ENDPOINT USERNAME DATABASE

Posts the four requests of bench/src/floor.rs, each between a Session.loginRq and a
Session.closeRq, parses each response as it streams in and inserts plain rows into tables of
its own, in one transaction. No staging, no reconciliation, no audit trail.
"""

import json
import os
import sqlite3
import sys
import time
from xml.sax.saxutils import quoteattr

import requests
from lxml import etree

USERS = '<OnlineData.listEntityUsersRq entityID="1"></OnlineData.listEntityUsersRq>'
ROLES = '<Security.listRolesRq includePrivileges="false"></Security.listRolesRq>'
ENTITIES = "<OnlineData.listEntitiesRq></OnlineData.listEntitiesRq>"
PRIVILEGES = "<Security.listPrivilegesRq></Security.listPrivilegesRq>"
# Request, the elements to read, entitlement type, attribute -> column. An entity is any
# element directly inside <Entities>.
ENTITLEMENTS = [
    (ROLES, "{*}Role", "Role", {"id": "entitlementID", "description": "description"}),
    (ENTITIES, "{*}Entities", "Entity", {"id": "entitlementID"}),
    (PRIVILEGES, "{*}Privilege", "Privilege",
     {"id": "entitlementID", "description": "description", "type": "customproperty1"}),
]
# <User> attribute -> account column.
ACCOUNT = {"name": "name", "id": "accountID", "email": "customproperty1",
           "status": "customproperty2", "fullName": "displayname"}


def post(session, endpoint, username, password, operation):
    """Posts `operation` between a login and a close; the streamed response."""
    envelope = (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        f"<soapenv:Body><server><requests><Session.loginRq userName={quoteattr(username)} "
        f"password={quoteattr(password)}></Session.loginRq>{operation}"
        "<Session.closeRq></Session.closeRq></requests></server></soapenv:Body></soapenv:Envelope>"
    )
    response = session.post(endpoint, data=envelope.encode(), stream=True,
                            headers={"Content-Type": "text/xml; charset=utf-8"})
    response.raise_for_status()
    response.raw.decode_content = True
    return response.raw


def elements(raw, tag):
    """The elements named `tag`, each cleared (with what came before it) once used."""
    for _, element in etree.iterparse(raw, tag=tag):
        yield element
        element.clear()
        while element.getprevious() is not None:
            del element.getparent()[0]


def columns(element, names):
    return json.dumps([[column, element.get(attribute, "")] for attribute, column in names.items()],
                      ensure_ascii=False, separators=(",", ":"))


def main():
    endpoint, username, database = sys.argv[1:]
    password = os.environ["DCBENCH_PASSWORD"]
    started = time.perf_counter()
    counts = dict(accounts=0, links=0, entitlements=0, bytes=0)
    db = sqlite3.connect(database)
    db.executescript("""
        CREATE TABLE accounts (name TEXT PRIMARY KEY, columns TEXT, status TEXT, locked INTEGER);
        CREATE TABLE links (account TEXT, type TEXT, value TEXT, PRIMARY KEY (account, type, value));
        CREATE TABLE entitlements (type TEXT, value TEXT, columns TEXT, PRIMARY KEY (type, value));
    """)
    with requests.Session() as session, db:
        raw = post(session, endpoint, username, password, USERS)
        for user in elements(raw, "{*}User"):
            name = user.get("name", "")
            # The shipped package's STATUS_THRESHOLD_CONFIG: only Active is active, Locked is locked.
            status = user.get("status", "")
            db.execute("INSERT INTO accounts VALUES (?, ?, ?, ?)",
                       (name, columns(user, ACCOUNT), "active" if status == "Active" else "inactive",
                        status == "Locked"))
            links = [(name, "Entity", e.get("entityName")) for e in user.iter("{*}UserEntityMembership")]
            links += [(name, "Role", role.get("name")) for role in user.iter("{*}Role")]
            inserted = db.executemany("INSERT OR IGNORE INTO links VALUES (?, ?, ?)",
                                      [link for link in links if link[2] is not None])
            counts["accounts"] += 1
            counts["links"] += inserted.rowcount
        counts["bytes"] += raw.tell()
        for operation, tag, kind, names in ENTITLEMENTS:
            raw = post(session, endpoint, username, password, operation)
            for found in elements(raw, tag):
                for element in found if kind == "Entity" else [found]:
                    if element.get("name") is None:
                        sys.exit(f"a {kind} without a name")
                    db.execute("INSERT OR REPLACE INTO entitlements VALUES (?, ?, ?)",
                               (kind, element.get("name"), columns(element, names)))
                    counts["entitlements"] += 1
            counts["bytes"] += raw.tell()
    db.close()
    print(json.dumps(dict(counts, elapsedMs=(time.perf_counter() - started) * 1000)))


if __name__ == "__main__":
    main()
