import { describe, expect, it } from 'vitest';
import { InvalidChannelError } from '../../src/base/errors.js';
import { encodeKeepAlive, holdHeaders, keepAliveSeconds } from '../../src/grip/index.js';

/** What Pushpin does with a cstring value (instruct.cpp `unescape`). */
function unescapeCString(value: string): string {
  return value.replace(/\\(\\|r|n|x([0-9a-fA-F]{2}))/g, (_m, c: string, hex?: string) =>
    hex !== undefined
      ? String.fromCharCode(Number.parseInt(hex, 16))
      : c === 'r'
        ? '\r'
        : c === 'n'
          ? '\n'
          : '\\',
  );
}

function decode(header: string): string {
  const [value, format] = header.split('; ');
  if (format === 'format=cstring') return unescapeCString(value ?? '');
  if (format === 'format=base64') return Buffer.from(value ?? '', 'base64').toString('utf8');
  throw new Error(`unexpected format in ${header}`);
}

describe('holdHeaders', () => {
  it('holds a stream on the prefixed channels', () => {
    expect(holdHeaders({ channels: ['clock', 'messages'], prefix: 'events-', keepAlive: undefined })).toEqual(
      {
        'Grip-Hold': 'stream',
        'Grip-Channel': 'events-clock, events-messages',
      },
    );
    expect(holdHeaders({ channels: ['a'], prefix: '', keepAlive: undefined })['Grip-Channel']).toBe('a');
  });

  it('carries exactly the direct keep-alive bytes, cstring-escaped, with timeout in seconds', () => {
    const h = holdHeaders({
      channels: ['clock'],
      prefix: 'events-',
      keepAlive: { text: 'event: keep-alive\ndata:\n\n', intervalMs: 20_000 },
    });
    expect(h['Grip-Keep-Alive']).toBe('event: keep-alive\\ndata:\\n\\n; format=cstring; timeout=20');
    expect(decode(h['Grip-Keep-Alive'] ?? '')).toBe('event: keep-alive\ndata:\n\n');
  });

  it('rounds the timeout up, minimum 1 s', () => {
    expect(keepAliveSeconds(20_000)).toBe(20);
    expect(keepAliveSeconds(1500)).toBe(2);
    expect(keepAliveSeconds(1)).toBe(1);
    expect(keepAliveSeconds(0)).toBe(1);
    expect(
      holdHeaders({ channels: ['c'], prefix: '', keepAlive: { text: ':\n\n', intervalMs: 250 } })[
        'Grip-Keep-Alive'
      ],
    ).toBe(':\\n\\n; format=cstring; timeout=1');
  });

  it('omits Grip-Keep-Alive when keep-alive is off or empty', () => {
    expect(
      holdHeaders({ channels: ['c'], prefix: '', keepAlive: { text: '', intervalMs: 1000 } }),
    ).not.toHaveProperty('Grip-Keep-Alive');
  });

  it('reliable mode: prev-id per channel and Grip-Link, but never a prev-id without a link', () => {
    const base = { channels: ['a', 'b'], prefix: 'events-', keepAlive: undefined, prevIds: { a: 'ep-7' } };
    expect(holdHeaders(base)).toEqual({ 'Grip-Hold': 'stream', 'Grip-Channel': 'events-a, events-b' });
    expect(holdHeaders({ ...base, link: { uri: '/events?es-recover=t', timeoutSec: 120 } })).toEqual({
      'Grip-Hold': 'stream',
      'Grip-Channel': 'events-a; prev-id=ep-7, events-b',
      'Grip-Link': '</events?es-recover=t>; rel=next; timeout=120',
    });
  });

  it('reliable mode with an id_format: the build-id filter on every channel, never without prev-ids', () => {
    const base = {
      channels: ['a', 'b'],
      prefix: 'events-',
      keepAlive: undefined,
      idFormat: 'x:%(events-a)s',
    };
    expect(holdHeaders(base)).toEqual({ 'Grip-Hold': 'stream', 'Grip-Channel': 'events-a, events-b' });
    const link = { uri: '/events?es-recover=t', timeoutSec: 120 };
    expect(holdHeaders({ ...base, link, prevIds: { a: 'ep-7', b: 'ep-0' } })).toEqual({
      'Grip-Hold': 'stream',
      'Grip-Channel': 'events-a; prev-id=ep-7; filter=build-id, events-b; prev-id=ep-0; filter=build-id',
      'Grip-Set-Meta': 'id_format="x:%(events-a)s"',
      'Grip-Link': '</events?es-recover=t>; rel=next; timeout=120',
    });
  });

  it('puts every valid name in its percent-encoded wire form (non-ASCII, =, ", \\, %)', () => {
    const h = holdHeaders({
      channels: ['é', 'a=b', 'clock'],
      prefix: 'events-',
      keepAlive: undefined,
      prevIds: { é: 'ep-3' },
      link: { uri: '/events?es-recover=t', timeoutSec: 60 },
    });
    expect(h['Grip-Channel']).toBe('events-%C3%A9; prev-id=ep-3, events-a%3Db, events-clock');
  });

  it('refuses channel names that would break Grip-Channel', () => {
    for (const bad of ['a,b', 'a;b', 'a\nb', ' a', '']) {
      expect(() => holdHeaders({ channels: [bad], prefix: '', keepAlive: undefined })).toThrow(
        InvalidChannelError,
      );
    }
  });
});

describe('encodeKeepAlive', () => {
  it('escapes backslash, CR and LF in cstring', () => {
    expect(encodeKeepAlive(':a\\b\r\n\r\n')).toEqual({ value: ':a\\\\b\\r\\n\\r\\n', format: 'cstring' });
  });

  it('falls back to base64 for separators, quotes, =, blanks at the ends, tabs and non-ASCII', () => {
    for (const text of [
      ': a;b\n\n',
      ': a,b\n\n',
      ': "q"\n\n',
      'data: a=b\n\n',
      ' :x\n\n',
      ':x ',
      ':\tx\n\n',
      ': é\n\n',
    ]) {
      const { value, format } = encodeKeepAlive(text);
      expect(format, JSON.stringify(text)).toBe('base64');
      expect(Buffer.from(value, 'base64').toString('utf8')).toBe(text);
    }
  });

  it('round-trips through both formats for many inputs', () => {
    const alphabet = ['a', ':', ' ', '\n', '\r', '\\', ';', ',', '=', '"', 'é', '\t', 'x'];
    let seed = 7;
    for (let i = 0; i < 300; i++) {
      let text = '';
      const len = 1 + (i % 12);
      for (let j = 0; j < len; j++) {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        text += alphabet[seed % alphabet.length];
      }
      const { value, format } = encodeKeepAlive(text);
      expect(decode(`${value}; format=${format}`)).toBe(text);
    }
  });
});
