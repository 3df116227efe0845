// What the server would refuse in a frame, checked before it is sent (docs/protocol.md, Frames
// and Limits). Above all what it refuses without being able to say which frame it refuses: an
// `id` it cannot read (not a string of 1-128 characters, or text with a lone surrogate, which
// its JSON parser rejects) and nesting deeper than 64 levels inside a field (`bad_json`, no
// id). A publish refused that way would never settle and be re-sent after every reconnect,
// filling the queue. Characters are counted as the server counts them: code points.

/** The longest id, in characters. */
export const MAX_ID_CHARS = 128;
/** The longest reaction, in characters. */
export const MAX_EMOJI_CHARS = 32;
/** The deepest nesting inside a field such as `data` (the frame object adds one level). */
export const MAX_DATA_DEPTH = 64;

/** Why the server would refuse `id` as a frame's id (undefined: it would not). */
export function idProblem(id: unknown): string | undefined {
  return textProblem(id, '`id`', MAX_ID_CHARS, false);
}

/** Why the server would refuse `emoji` as a reaction. */
export function emojiProblem(emoji: unknown): string | undefined {
  return textProblem(emoji, '`emoji`', MAX_EMOJI_CHARS, true);
}

/** Why the server would refuse `userId` as a direct's recipient. */
export function userIdProblem(userId: unknown): string | undefined {
  return textProblem(userId, '`to.user_id`', MAX_ID_CHARS, true);
}

/** Why the server would refuse the frame `json` (as JSON.stringify wrote it) for its nesting:
 * the same count as the server's, over the whole text, brackets inside strings skipped. */
export function nestingProblem(json: string): string | undefined {
  let depth = 0;
  let max = 0;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (escaped) escaped = false;
      else if (c === 0x5c /* \ */) escaped = true;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) max = Math.max(max, ++depth);
    else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--;
  }
  if (max <= MAX_DATA_DEPTH + 1) return undefined;
  return `the data nests ${max - 1} levels deep; the server takes at most ${MAX_DATA_DEPTH}`;
}

/** A string of 1 to `max` code points, well-formed (no lone surrogate), and with
 * `noControls` without control characters (U+0000-U+001F, U+007F-U+009F). */
function textProblem(s: unknown, name: string, max: number, noControls: boolean): string | undefined {
  const rule = `${name} must be a string of 1-${max} characters${noControls ? ', no control characters' : ''}`;
  if (typeof s !== 'string') return rule;
  let chars = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++;
    else if (c >= 0xd800 && c <= 0xdfff) return `${name} has a lone surrogate (U+${c.toString(16).toUpperCase()}): not text the server can read`;
    else if (noControls && (c <= 0x1f || (c >= 0x7f && c <= 0x9f))) return rule;
    chars++;
  }
  return chars >= 1 && chars <= max ? undefined : rule;
}

/** The server's refusal of a frame — `fields` as sent (with its `id`), `json` their text —
 * found here: `bad_frame` for an id, a reaction or a recipient it cannot take, `bad_json` for
 * nesting. Undefined when none of these applies (the size is checked apart). */
export function refusal(fields: Record<string, unknown>, json: string): { code: 'bad_frame' | 'bad_json'; message: string } | undefined {
  const to = fields.to as { user_id?: unknown } | undefined;
  const field =
    idProblem(fields.id) ??
    ('emoji' in fields ? emojiProblem(fields.emoji) : undefined) ??
    (to && 'user_id' in to ? userIdProblem(to.user_id) : undefined);
  if (field) return { code: 'bad_frame', message: field };
  const deep = nestingProblem(json);
  return deep ? { code: 'bad_json', message: deep } : undefined;
}
