// The error every rejection carries, and the client's own refusals.


/**
 * Rejection of `publish` (and of `ready`, the history and member reads, and the end of a
 * `messages()` iteration): the server's error code, or a client-side one — `too_large`,
 * `bad_frame` and `bad_json` (what the server would refuse, found before sending),
 * `queue_full`, `duplicate_id`, `timeout`, `aborted`, `closed`, `failed`, `bad_data`,
 * `network_error`, `bad_response`, `overflow` (a `messages()` consumer fell too far behind),
 * `token_error` (`getToken` threw, gave no token, or did not answer within the connect
 * timeout).
 */
export class ChatError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly id?: string,
    /** The HTTP status, for errors of HTTP requests (history). */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'ChatError';
  }
}

export function tooLarge(bytes: number, max: number, id?: string): ChatError {
  return new ChatError('too_large', `the frame is ${bytes} bytes; the limit is ${max}`, id);
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
