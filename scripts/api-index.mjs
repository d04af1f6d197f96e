// The index page of each entry's API reference, rewritten after TypeDoc (scripts/api-docs.mjs): one
// line per item, the first sentence of its doc comment. The core's index is grouped by what a reader
// looks for (setup, channels, handlers, history…, errors apart) instead of TypeDoc's alphabetical
// list by kind; the groups follow the module each export comes from in src/index.ts, so a new export
// lands in its module's group, and one from a module no group names stops the docs build.

/**
 * The core's groups, in page order. An export belongs to the group whose `test` accepts its name,
 * else to the group that lists its name, else to the group that lists its module (a folder with `/*`
 * takes every module in it).
 */
export const CORE_GROUPS = [
  {
    title: 'Setup',
    about: 'A namespace of channels: create it, configure it, watch it, close it.',
    names: ['EventsEvents', 'EventsStats'],
    modules: [
      'compose/events',
      'compose/options',
      'core/drain',
      'core/overload',
      'protocol/preamble',
      'presence/options',
    ],
  },
  {
    title: 'Channels & publishing',
    about: 'What an event is, how it is published and written, and what filters see of it.',
    names: ['EventInput', 'EventMap', 'EventFields', 'EncodedEvent', 'EventSink'],
    modules: [
      'core/channel',
      'core/publish-options',
      'core/filter',
      'core/event-view',
      'base/encoder',
      'base/channel-name',
    ],
  },
  {
    title: 'Handlers',
    about: 'Serving a namespace over HTTP: Express, `node:http` and HTTP/2, Fetch.',
    names: ['ConnectionInfo', 'DisconnectInfo', 'DisconnectReason', 'ResetReason'],
    modules: ['adapters/*', 'protocol/decision'],
  },
  {
    title: 'Response streams',
    about:
      'One generated response (an AI answer) that a client can read, resume and stop: `events.stream(id)`.',
    names: ['streamHandler', 'StreamHandlerOptions'],
    modules: ['streams/*'],
  },
  {
    title: 'Identity & presence',
    about: 'Who subscribes: tokens, revocation, and who is on a channel.',
    names: ['StreamIdentity'],
    modules: ['identity/*', 'presence/members'],
  },
  {
    title: 'GRIP proxies',
    about: 'Publishing through Pushpin or Fastly Fanout, which hold the client connections.',
    modules: ['grip/*'],
  },
  {
    title: 'History & engines',
    about: 'The seam a shared backend implements (history, bus, control, state) and the in-memory defaults.',
    modules: ['engine/*', 'history/*'],
  },
  {
    title: 'Diagnostics',
    about: 'The `node:diagnostics_channel` channels and their messages.',
    modules: ['core/diagnostics'],
  },
  {
    title: 'Errors',
    about: 'Every error is an `EventStreamError` with a stable `code`; the subclasses say what failed.',
    test: (name) => name.endsWith('Error'),
    names: ['ErrorContext'],
    modules: ['base/errors'],
  },
];

/** Each name the barrel exports, with the module it comes from (`'core/channel'`). */
export function barrelExports(source) {
  if (/export\s+\*/.test(source)) throw new Error('src/index.ts: `export *` hides what is exported');
  const found = new Map();
  for (const m of source.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}\s+from\s+'\.\/([^']+)\.js'/g)) {
    for (const item of m[1].split(',')) {
      const name = item.replace(/^\s*type\s+/, '').trim();
      if (name !== '') found.set(name, m[2]);
    }
  }
  return found;
}

/** The group an export belongs to (see CORE_GROUPS), or undefined. */
export function groupOf(name, module, groups = CORE_GROUPS) {
  const inModules = (g) =>
    (g.modules ?? []).some((p) => (p.endsWith('/*') ? module.startsWith(p.slice(0, -1)) : module === p));
  return (
    groups.find((g) => g.test?.(name)) ??
    groups.find((g) => g.names?.includes(name)) ??
    groups.find(inModules)
  );
}

const ABBREVIATIONS = /(?:^|[\s(])(?:e\.g|i\.e|etc|vs|cf)$/;

/**
 * The first sentence of a Markdown description: up to the first `.`, `!` or `?` followed by a space,
 * outside code spans, links' targets and parentheses, and not closing an abbreviation (`e.g.`).
 */
export function firstSentence(text) {
  let code = false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '`') code = !code;
    if (code) continue;
    if (c === '(' || c === '[') depth++;
    else if ((c === ')' || c === ']') && depth > 0) depth--;
    else if (depth === 0 && '.!?'.includes(c) && (i + 1 === text.length || text[i + 1] === ' ')) {
      if (c === '.' && ABBREVIATIONS.test(text.slice(0, i))) continue;
      return text.slice(0, i + 1);
    }
  }
  return text;
}

const KINDS = [
  ['functions', 'function'],
  ['classes', 'class'],
  ['interfaces', 'interface'],
  ['type-aliases', 'type'],
  ['variables', 'constant'],
];

/** The items of a TypeDoc-markdown index written with `indexFormat: "table"`. */
function indexItems(markdown) {
  const items = [];
  for (const m of markdown.matchAll(/^\| \[(.+?)\]\(([^)]+)\) \| (.*) \|$/gm)) {
    const [, shown, link, description] = m;
    const kind = KINDS.find(([dir]) => link.startsWith(`${dir}/`));
    if (kind === undefined) throw new Error(`API index: no kind for ${link}`);
    const name = shown.replace(/\\(.)/g, '$1');
    items.push({ name, shown, link, kind: kind[1], rank: KINDS.indexOf(kind), description });
  }
  return items;
}

const row = (item) => `| [${item.shown}](${item.link}) | ${item.kind} | ${firstSentence(item.description)} |`;
const table = (items) => ['| name | kind | what it is |', '| --- | --- | --- |', ...items.map(row)];
const byKindThenName = (a, b) => a.rank - b.rank || a.name.localeCompare(b.name);

/**
 * The core's index regrouped by CORE_GROUPS. Throws, naming them, on items the barrel does not export,
 * on exports no group takes, and on items without a description.
 */
export function groupedIndex(markdown, barrel, intro, groups = CORE_GROUPS) {
  const items = indexItems(markdown);
  const problems = [];
  const members = new Map(groups.map((g) => [g, []]));
  for (const item of items) {
    const module = barrel.get(item.name);
    const group = module === undefined ? undefined : groupOf(item.name, module, groups);
    if (module === undefined) problems.push(`${item.name} is in the index but not exported by src/index.ts`);
    else if (group === undefined)
      problems.push(`${item.name} (from ${module}) is in no group of scripts/api-index.mjs`);
    else members.get(group).push(item);
    if (item.description === '-') problems.push(`${item.name} has no doc comment`);
  }
  if (problems.length > 0) throw new Error(`API index:\n${problems.join('\n')}`);
  const title = markdown.split('\n', 1)[0];
  const out = [title, '', intro, ''];
  for (const group of groups) {
    const list = members.get(group).sort(byKindThenName);
    if (list.length === 0) continue;
    out.push(`## ${group.title}`, '', group.about, '', ...table(list), '');
  }
  return out.join('\n');
}

/** Any other entry's index: TypeDoc's sections by kind kept, each description cut to one sentence. */
export function shortenedIndex(markdown) {
  return markdown.replace(
    /^(\| \[.+?\]\([^)]+\) \| )(.*)( \|)$/gm,
    (_, head, description, tail) => `${head}${firstSentence(description)}${tail}`,
  );
}
