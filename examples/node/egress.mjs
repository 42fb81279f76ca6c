// The egress policy of the Node host: wasi:http/outgoing-handler wrapped so that a request goes
// out only to a URL the connector's `destinations` named for the connection (scheme, host, port
// and path with query all equal), as dcconn does. `transpile.mjs` maps the component's
// outgoing-handler import to `outgoingHandler` here; everything else of wasi:http is the
// preview2 shim's.
import { outgoingHandler as shim } from '@bytecodealliance/preview2-shim/http';

let allowed = new Set();

// `scheme://host:port/path?query`, the one form both sides of the comparison are written in.
const key = ({ scheme, host, port, pathAndQuery }) => `${scheme}://${host}:${port}${pathAndQuery}`;

const DEFAULT_PORTS = { http: 80, https: 443 };

/** Allows exactly these destinations (what `connector.destinations` returned) from now on. */
export function allowOnly(destinations) {
  allowed = new Set(destinations.map(key));
}

/**
 * Where an outgoing-request goes, written as a destination: `undefined` when it cannot be told
 * (no scheme, another scheme, an authority that is not a host and port).
 */
export function destinationOf(request) {
  const scheme = { HTTP: 'http', HTTPS: 'https' }[request.scheme()?.tag];
  const authority = request.authority();
  if (!scheme || !authority || authority.includes('@')) return undefined;
  let url;
  try {
    url = new URL(`${scheme}://${authority}`);
  } catch {
    return undefined;
  }
  const written = request.pathWithQuery() ?? '/';
  const pathAndQuery = written.startsWith('/') ? written : `/${written}`;
  return {
    scheme,
    host: url.hostname,
    port: url.port === '' ? DEFAULT_PORTS[scheme] : Number(url.port),
    pathAndQuery,
  };
}

/** Whether `request` goes to an allowed destination. */
export function allows(request) {
  const destination = destinationOf(request);
  return destination !== undefined && allowed.has(key(destination));
}

/** wasi:http/outgoing-handler: the shim's `handle`, for allowed requests only. */
export const outgoingHandler = {
  handle(request, options) {
    if (!allows(request)) {
      // A thrown error code becomes the import's `err`: the component sees HTTP-request-denied.
      throw { tag: 'HTTP-request-denied' };
    }
    return shim.handle(request, options);
  },
};
