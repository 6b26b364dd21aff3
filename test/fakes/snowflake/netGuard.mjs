/**
 * No traffic leaves the machine: a guard for test processes (the vitest worker through setup.ts, and the
 * kiln CLI through `NODE_OPTIONS=--import <this file>`). Every socket connect and DNS lookup to anything
 * but a loopback address throws, and is appended to the file named by KILN_NET_GUARD_LOG (tests assert it
 * stays empty). Install it before any client library loads.
 */
import dns from 'node:dns';
import { appendFileSync } from 'node:fs';
import net from 'node:net';

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+|localhost)$/i;

function violation(what) {
  const msg = `network guard: ${what} is not a loopback address; tests must not leave the machine`;
  if (process.env.KILN_NET_GUARD_LOG) {
    try {
      appendFileSync(process.env.KILN_NET_GUARD_LOG, `${process.pid} ${what}\n`);
    } catch {
      // the log is best effort; the throw is what stops the traffic
    }
  }
  globalThis.__kilnNetGuardViolations = [...(globalThis.__kilnNetGuardViolations ?? []), what];
  return new Error(msg);
}

if (!globalThis.__kilnNetGuardInstalled) {
  globalThis.__kilnNetGuardInstalled = true;
  process.env.SNOWFLAKE_DISABLE_PLATFORM_DETECTION = 'true';
  process.env.METADATA_SERVER_DETECTION = 'none';

  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function guardedConnect(...args) {
    const first = args[0];
    let host;
    let path;
    if (Array.isArray(first)) {
      // internal normalized form: [options, cb]
      host = first[0]?.host;
      path = first[0]?.path;
    } else if (first && typeof first === 'object') {
      host = first.host;
      path = first.path;
    } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
      host = typeof args[1] === 'string' ? args[1] : 'localhost';
    } else if (typeof first === 'string') {
      path = first;
    }
    if (!path && host !== undefined && !LOOPBACK.test(String(host))) throw violation(`connect to ${host}`);
    return connect.apply(this, args);
  };

  const check = (hostname) => {
    if (!LOOPBACK.test(String(hostname))) throw violation(`DNS lookup of ${hostname}`);
  };
  const lookup = dns.lookup;
  dns.lookup = function guardedLookup(hostname, ...rest) {
    check(hostname);
    return lookup.call(this, hostname, ...rest);
  };
  const plookup = dns.promises.lookup;
  dns.promises.lookup = function guardedPromiseLookup(hostname, ...rest) {
    check(hostname);
    return plookup.call(this, hostname, ...rest);
  };
  for (const name of ['resolve', 'resolve4', 'resolve6', 'resolveAny', 'resolveCname', 'resolveSrv', 'resolveTxt']) {
    const orig = dns[name];
    if (typeof orig === 'function') {
      dns[name] = function guardedResolve(hostname, ...rest) {
        check(hostname);
        return orig.call(this, hostname, ...rest);
      };
    }
  }
}
