//! The contract: the component `make` builds exports exactly the interfaces `wit/` declares, and
//! imports exactly what the contract's documentation tells a host to provide.

use std::collections::BTreeSet;

use wit_component::{DecodedWasm, WitPrinter};
use wit_parser::{Resolve, WorldId, WorldItem, WorldKey};

use crate::support::*;

/// The interface the component exports, by its qualified name.
const EXPORTED: &str = "duckcreek:connector/connector@0.2.1";

/// The records the export uses: a types-only interface, which a component encodes as an
/// import (a host provides nothing for it: it has no functions).
const TYPES: &str = "duckcreek:connector/types@0.2.1";

/// Every interface the component imports, as the README's contract section lists them: wasi:http
/// to send requests, wasi:io for their bodies, the monotonic clock for token lifetimes, and what
/// Rust's standard library for wasm32-wasip2 links (environment, exit, stdio, terminals, a random
/// seed for its hash maps), which a host may back with nothing.
const IMPORTS: &[&str] = &[
    TYPES,
    "wasi:http/types@0.2.12",
    "wasi:http/outgoing-handler@0.2.12",
    "wasi:io/error@0.2.12",
    "wasi:io/poll@0.2.12",
    "wasi:io/streams@0.2.12",
    "wasi:clocks/monotonic-clock@0.2.12",
    "wasi:cli/environment@0.2.12",
    "wasi:cli/exit@0.2.12",
    "wasi:cli/stdin@0.2.12",
    "wasi:cli/stdout@0.2.12",
    "wasi:cli/stderr@0.2.12",
    "wasi:cli/terminal-input@0.2.12",
    "wasi:cli/terminal-output@0.2.12",
    "wasi:cli/terminal-stdin@0.2.12",
    "wasi:cli/terminal-stdout@0.2.12",
    "wasi:cli/terminal-stderr@0.2.12",
    "wasi:random/insecure-seed@0.2.12",
];

/// The qualified names of a world's interface imports or exports.
fn interfaces<'a>(
    resolve: &Resolve,
    items: impl Iterator<Item = (&'a WorldKey, &'a WorldItem)>,
) -> BTreeSet<String> {
    items
        .filter_map(|(_, item)| match item {
            WorldItem::Interface { id, .. } => resolve.id_of(*id),
            _ => None,
        })
        .collect()
}

/// An interface's items as WIT text, without documentation (the component may not carry it),
/// sorted (a component lists types in the order its functions use them).
fn printed(resolve: &Resolve, name: &str) -> Vec<String> {
    let id = resolve
        .interfaces
        .iter()
        .find(|(id, _)| resolve.id_of(*id).as_deref() == Some(name))
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("{name} is not in the resolve"));
    let mut printer = WitPrinter::default();
    printer.emit_docs(false);
    printer.print_interface(resolve, id).unwrap();
    let text = printer.output.to_string();
    let mut items: Vec<String> = text
        .split("\n\n")
        .map(|item| item.trim().to_string())
        .collect();
    items.sort();
    items
}

fn source() -> (Resolve, WorldId) {
    let mut resolve = Resolve::default();
    let wit = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wit");
    let (package, _) = resolve.push_dir(&wit).expect("wit/ parses");
    let world = resolve
        .select_world(&[package], Some("duckcreek-connector"))
        .expect("wit/ has the world");
    (resolve, world)
}

fn built() -> (Resolve, WorldId) {
    let bytes = std::fs::read(component()).expect("the component is built (make component)");
    match wit_component::decode(&bytes).expect("the component decodes") {
        DecodedWasm::Component(resolve, world) => (resolve, world),
        DecodedWasm::WitPackage(..) => panic!("the artifact is a WIT package, not a component"),
    }
}

#[test]
fn the_built_component_exports_exactly_the_interfaces_of_wit() {
    let (source, source_world) = source();
    let (built, built_world) = built();
    let exported = interfaces(&built, built.worlds[built_world].exports.iter());
    assert_eq!(exported, BTreeSet::from([EXPORTED.to_string()]));
    assert!(interfaces(&source, source.worlds[source_world].exports.iter()).contains(EXPORTED));
    for name in [EXPORTED, TYPES] {
        assert_eq!(
            printed(&built, name),
            printed(&source, name),
            "{name}: the component and wit/ differ"
        );
    }
}

#[test]
fn the_built_component_imports_exactly_what_the_contract_documents() {
    let (source, source_world) = source();
    let (built, built_world) = built();
    let documented: BTreeSet<String> = IMPORTS.iter().map(|n| n.to_string()).collect();
    let imported = interfaces(&built, built.worlds[built_world].imports.iter());
    assert_eq!(
        imported, documented,
        "the component's imports and the contract's list differ"
    );
    // What the world in wit/ names is among them.
    let named = interfaces(&source, source.worlds[source_world].imports.iter());
    for name in [
        "wasi:http/outgoing-handler@0.2.12",
        "wasi:clocks/monotonic-clock@0.2.12",
    ] {
        assert!(named.contains(name), "wit/ imports {name}");
    }
    assert!(named.is_subset(&documented), "{named:?}");
}
