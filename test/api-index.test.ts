// The API reference's index pages (scripts/api-index.mjs): every export of the core in a group,
// one sentence per item, and the build stopped on an export no group takes or without a comment.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  barrelExports,
  CORE_GROUPS,
  firstSentence,
  groupedIndex,
  groupOf,
  shortenedIndex,
} from '../scripts/api-index.mjs';

const barrel = barrelExports(readFileSync(new URL('../src/index.ts', import.meta.url), 'utf8'));

describe('the API index', () => {
  it('puts every export of the core in a group, errors apart', () => {
    expect(barrel.size).toBeGreaterThan(100);
    const ungrouped = [...barrel].filter(([name, module]) => groupOf(name, module) === undefined);
    expect(ungrouped).toEqual([]);
    const title = (name: string) => groupOf(name, barrel.get(name)!)?.title;
    expect(title('events')).toBe('Setup');
    expect(title('Channel')).toBe('Channels & publishing');
    expect(title('express')).toBe('Handlers');
    expect(title('MemoryStore')).toBe('History & engines');
    for (const error of ['EventStreamError', 'GripPublishError', 'InvalidOptionError', 'ErrorCode'])
      expect(title(error)).toBe('Errors');
    expect(CORE_GROUPS.at(-1)?.title).toBe('Errors');
  });

  it('cuts a description to its first sentence, not inside code, parentheses or after e.g.', () => {
    expect(firstSentence('Create one. Then more.')).toBe('Create one.');
    expect(firstSentence('Uses `a. b` here. Rest.')).toBe('Uses `a. b` here.');
    expect(firstSentence('A store (e.g. Redis. Or not) fails. Rest.')).toBe(
      'A store (e.g. Redis. Or not) fails.',
    );
    expect(firstSentence('Default, e.g. 5 ms. Rest.')).toBe('Default, e.g. 5 ms.');
    expect(firstSentence('Names go into logs (see grip/channel.ts).')).toBe(
      'Names go into logs (see grip/channel.ts).',
    );
    expect(firstSentence('No full stop')).toBe('No full stop');
  });

  const generated = [
    '# express-eventstream',
    '',
    '## Classes',
    '',
    '| Class | Description |',
    '| ------ | ------ |',
    '| [Events](classes/Events.md) | A namespace of channels. Create one with `events()`. |',
    '| [InvalidOptionError](classes/InvalidOptionError.md) | An option is invalid. |',
    '',
    '## Functions',
    '',
    '| Function | Description |',
    '| ------ | ------ |',
    '| [events](functions/events.md) | Create an Events namespace. Declare an event map. |',
    '',
  ].join('\n');

  it('regroups the generated index under the groups, one sentence per item', () => {
    const page = groupedIndex(generated, barrel, 'Intro.');
    expect(page.split('\n## ').map((s) => s.split('\n', 1)[0])).toEqual([
      '# express-eventstream',
      'Setup',
      'Errors',
    ]);
    expect(page).toContain('| [events](functions/events.md) | function | Create an Events namespace. |');
    expect(page).toContain('| [Events](classes/Events.md) | class | A namespace of channels. |');
    expect(page.indexOf('functions/events.md')).toBeLessThan(page.indexOf('classes/Events.md'));
    expect(page).not.toContain('Declare an event map');
  });

  it('refuses an export no group takes, a name the core does not export, and an item without a comment', () => {
    const stray = new Map(barrel).set('Widget', 'widgets/widget');
    const withWidget = generated.replace(
      '| [events](functions',
      '| [Widget](classes/Widget.md) | A widget. |\n| [Ghost](classes/Ghost.md) | - |\n| [events](functions',
    );
    expect(() => groupedIndex(withWidget, stray, '')).toThrow(
      /Widget \(from widgets\/widget\) is in no group[\s\S]*Ghost is in the index but not exported[\s\S]*Ghost has no doc comment/,
    );
  });

  it("keeps another entry's sections and shortens its descriptions", () => {
    expect(shortenedIndex(generated)).toContain(
      '| [events](functions/events.md) | Create an Events namespace. |',
    );
    expect(shortenedIndex(generated)).toContain('## Classes');
  });
});
