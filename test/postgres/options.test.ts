// postgresStore()'s option checks, before any connection: a typed error naming the option.
import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../dist/index.js';
import { postgresStore } from '../../dist/postgres.js';

function refusal(fn: () => unknown): InvalidOptionError {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidOptionError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('postgresStore options', () => {
  it('refuses a URL of another scheme, an unparsable one and a non-string, naming the option', () => {
    expect(refusal(() => postgresStore({ url: 'redis://127.0.0.1:1' }))).toMatchObject({
      option: 'url',
      message: expect.stringContaining('url must be a postgres:// or postgresql:// URL, got a redis: URL'),
    });
    expect(refusal(() => postgresStore({ url: 'postgres//x' })).message).toContain('got an unparsable value');
    expect(refusal(() => postgresStore({ url: 5 as never })).option).toBe('url');
    expect(refusal(() => postgresStore({ url: 'postgres://127.0.0.1:1/db', namespace: 'a b' })).option).toBe(
      'namespace',
    );
  });

  it('refuses a namespace and prefix too long for Postgres notification channel names (NOTIFY would fail)', () => {
    const url = 'postgres://127.0.0.1:1/db';
    expect(refusal(() => postgresStore({ url, namespace: 'n'.repeat(52) }))).toMatchObject({
      option: 'namespace',
      message: expect.stringContaining('at most 55 characters'),
    });
    expect(
      refusal(() => postgresStore({ url, namespace: 'n'.repeat(30), tablePrefix: 'p'.repeat(26) })).option,
    ).toBe('namespace');
  });
});
