// Turns the component into JavaScript bindings (what `jco transpile` does, without the whole
// jco command line). usage: node transpile.mjs COMPONENT.wasm OUTDIR
import { transpile, writeFiles } from '@bytecodealliance/jco-transpile';

const [wasm, outDir] = process.argv.slice(2);
const { files } = await transpile(wasm, { outDir });
await writeFiles(files);
