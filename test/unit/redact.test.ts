/** Secrets from profiles never reach logs, the `target` variable or artifacts. */
import { describe, expect, it } from 'vitest';
import { Redactor } from '../../src/run/redact.js';

describe('Redactor', () => {
  const redactor = new Redactor({
    type: 'postgres',
    database: 'db',
    schema: 'public',
    secretFields: ['keyfile_json'],
    fields: { host: 'localhost', user: 'me', password: 's3cret-pw', keyfile_json: '{"private": "abc123"}', private_key_passphrase: 'pp-42', threads: 4 },
  });

  it('drops secret fields (declared by the adapter or named like a secret) from what templates see', () => {
    expect(redactor.safeFields({ host: 'localhost', user: 'me', password: 's3cret-pw', keyfile_json: 'x', private_key_passphrase: 'pp-42', threads: 4 }))
      .toEqual({ host: 'localhost', user: 'me', threads: 4 });
  });

  it('scrubs secret values from any text, e.g. a driver error that echoes a connection string', () => {
    expect(redactor.scrub('connect failed: postgres://me:s3cret-pw@localhost/db (passphrase pp-42)'))
      .toBe('connect failed: postgres://me:*****@localhost/db (passphrase *****)');
    expect(redactor.scrub('nothing secret here')).toBe('nothing secret here');
  });
});

describe('Redactor, nested fields and secret env vars', () => {
  const redactor = new Redactor(
    { type: 'duckdb', database: 'db', schema: 'main', secretFields: [], fields: { path: 'x.duckdb', settings: { s3_region: 'eu', s3_secret_access_key: 'hunter2SECRET' } } },
    { DBT_ENV_SECRET_PW: 'pa55wordXYZ', HOME: '/root' },
  );

  it('drops nested secret settings and scrubs their values and DBT_ENV_SECRET_* values', () => {
    expect(redactor.safeFields({ path: 'x.duckdb', settings: { s3_region: 'eu', s3_secret_access_key: 'hunter2SECRET' } }))
      .toEqual({ path: 'x.duckdb', settings: { s3_region: 'eu' } });
    expect(redactor.scrub('key hunter2SECRET and pw pa55wordXYZ in /root')).toBe('key ***** and pw ***** in /root');
  });
});

describe('Redactor, secret-named keys holding objects and lists', () => {
  const redactor = new Redactor(
    { type: 'x', database: 'db', schema: 's', secretFields: [], fields: { keyfile_json: { client_email: 'a@b', private_key: 'pk-123' }, secrets: ['s-one', 's-two'], user: 'me' } },
    {},
  );
  it('drops the whole key and scrubs every string under it', () => {
    expect(redactor.safeFields({ keyfile_json: { client_email: 'a@b', private_key: 'pk-123' }, secrets: ['s-one', 's-two'], user: 'me', list: [{ token: 't' }, 'k'] }))
      .toEqual({ user: 'me', list: [{}, 'k'] });
    expect(redactor.scrub('a@b pk-123 s-one s-two me')).toBe('***** ***** ***** ***** me');
  });
});
