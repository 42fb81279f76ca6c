// Turns the component into JavaScript bindings (what `jco transpile` does, without the whole
// jco command line). usage: node transpile.mjs COMPONENT.wasm OUTDIR
//
// The component's wasi:http/outgoing-handler is this host's egress policy (`egress.mjs`), which
// hands allowed requests to the preview2 shim; every other import is the shim's.
import { transpile, writeFiles } from '@bytecodealliance/jco-transpile';

const [wasm, outDir] = process.argv.slice(2);
const { files } = await transpile(wasm, {
  outDir,
  map: { 'wasi:http/outgoing-handler': '../egress.mjs#outgoingHandler' },
});
await writeFiles(files);
