/**
 * No traffic leaves the machine: loaded before any client library (vitest setup file for the BigQuery tests,
 * and `NODE_OPTIONS=--import` for the CLI processes they spawn), it makes every socket connect and every DNS
 * lookup to a non-loopback address fail, and records it — in `globalThis.__kilnNetViolations`, and in the
 * file named by NET_GUARD_LOG when set (child processes) — so a test fails even where a library swallows the
 * error (google-auth-library's metadata-server probe does). It also turns off that probe
 * (METADATA_SERVER_DETECTION=none), as the real run would otherwise try 169.254.169.254.
 */
import { appendFileSync } from 'node:fs';
import dns from 'node:dns';
import net from 'node:net';

process.env.METADATA_SERVER_DETECTION = 'none';

const violations = (globalThis.__kilnNetViolations ??= []);

export function isLoopback(host) {
  if (host === undefined || host === null || host === '' || host === 'localhost') return true;
  const h = String(host).replace(/^\[|\]$/g, '');
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) return h === '::1' || /^(0:){7}1$/.test(h) || /^::ffff:127\./i.test(h);
  return /^localhost\.?$/i.test(h);
}

function violation(what) {
  const msg = `network guard: ${what} (tests may only reach loopback addresses)`;
  violations.push(msg);
  if (process.env.NET_GUARD_LOG) {
    try {
      appendFileSync(process.env.NET_GUARD_LOG, `${process.pid} ${msg}\n`);
    } catch {
      // the log is best effort; the thrown error still fails the call
    }
  }
  const err = new Error(msg);
  err.code = 'EKILNNETGUARD';
  return err;
}

if (!globalThis.__kilnNetGuardInstalled) {
  globalThis.__kilnNetGuardInstalled = true;

  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function guardedConnect(...args) {
    let opts = args[0];
    if (Array.isArray(opts)) opts = opts[0];
    let host;
    let path;
    if (opts && typeof opts === 'object') {
      host = opts.host;
      path = opts.path;
    } else if (typeof opts === 'number' || (typeof opts === 'string' && /^\d+$/.test(opts))) {
      host = typeof args[1] === 'string' ? args[1] : undefined;
    } else if (typeof opts === 'string') {
      path = opts;
    }
    if (!path && !isLoopback(host)) throw violation(`socket connect to ${host}`);
    return connect.apply(this, args);
  };

  const guardCallback = (name, original) => function guarded(host, ...rest) {
    if (!isLoopback(host)) {
      const err = violation(`dns.${name}(${host})`);
      const cb = rest.find((a) => typeof a === 'function');
      if (cb) {
        process.nextTick(cb, err);
        return undefined;
      }
      throw err;
    }
    return original.call(this, host, ...rest);
  };
  const guardPromise = (name, original) => async function guarded(host, ...rest) {
    if (!isLoopback(host)) throw violation(`dns.promises.${name}(${host})`);
    return original.call(this, host, ...rest);
  };
  const names = ['lookup', 'resolve', 'resolve4', 'resolve6', 'resolveAny', 'resolveCname', 'resolveMx', 'resolveNs', 'resolveTxt', 'resolveSrv', 'resolvePtr', 'resolveNaptr', 'resolveSoa', 'resolveCaa', 'lookupService'];
  for (const n of names) {
    if (typeof dns[n] === 'function') dns[n] = guardCallback(n, dns[n]);
    if (typeof dns.promises[n] === 'function') dns.promises[n] = guardPromise(n, dns.promises[n]);
    if (typeof dns.Resolver?.prototype[n] === 'function') dns.Resolver.prototype[n] = guardCallback(n, dns.Resolver.prototype[n]);
    if (typeof dns.promises.Resolver?.prototype[n] === 'function') dns.promises.Resolver.prototype[n] = guardPromise(n, dns.promises.Resolver.prototype[n]);
  }
}

/** Violations recorded in this process so far. */
export function netViolations() {
  return [...violations];
}
