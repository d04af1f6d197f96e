// The example's stand-in for a language model: one fixed answer (the test compares it exactly).

export const ANSWER_TEXT =
  'Server-Sent Events keep one HTTP response open and write each new event to it as a few lines ' +
  'of text. Every event here carries an id, and the server keeps recent events in its history. ' +
  'If the connection drops, the browser reconnects by itself and sends the last id it saw; the ' +
  'server replays what came after it. If you reload the page, the page remembers that ' +
  'id in sessionStorage and asks for the same thing. Either way this answer arrives whole: no ' +
  'token twice, and none missing.';

/** Words with their following whitespace, the way a model's tokens carry their spaces. */
export function tokenize(text) {
  return text.match(/\S+\s*/g) ?? [];
}
