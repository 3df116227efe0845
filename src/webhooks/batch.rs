//! What one POST carries: the oldest events of the outbox, in order, as `{"events":[...]}`.

/// At most this many events per POST.
pub const MAX_BATCH_EVENTS: usize = 100;
/// At most this many bytes of body per POST — unless a single event is larger, which then
/// goes alone.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Bytes of `{"events":[` and `]}`.
pub const BATCH_ENVELOPE_BYTES: usize = r#"{"events":[]}"#.len();
const ENVELOPE_BYTES: usize = BATCH_ENVELOPE_BYTES;

/// How many of the oldest events (their byte lengths, oldest first) the next POST takes: as
/// many as fit in [`MAX_BATCH_EVENTS`] and [`MAX_BATCH_BYTES`], and always at least one. (The
/// outbox applies the same rule in SQL: a running total of `len + 1` — each event and its
/// comma — within `MAX_BATCH_BYTES - BATCH_ENVELOPE_BYTES + 1`, the first event always.)
pub fn batch_len(lengths: &[usize]) -> usize {
    let mut bytes = ENVELOPE_BYTES;
    let mut n = 0;
    for (i, len) in lengths.iter().take(MAX_BATCH_EVENTS).enumerate() {
        // One comma between events.
        bytes += len + usize::from(i > 0);
        if bytes > MAX_BATCH_BYTES && n > 0 {
            break;
        }
        n += 1;
    }
    n
}

/// The body of one POST: `{"events":[...]}`, the events' JSON texts unchanged, in order.
pub fn batch_body<S: AsRef<str>>(events: &[S]) -> String {
    let mut body = String::with_capacity(ENVELOPE_BYTES + list_len(events));
    body.push_str(r#"{"events":"#);
    push_list(&mut body, events);
    body.push('}');
    body
}

/// The events as a JSON array (what a dead letter keeps).
pub fn events_array<S: AsRef<str>>(events: &[S]) -> String {
    let mut list = String::with_capacity(list_len(events) + 2);
    push_list(&mut list, events);
    list
}

fn list_len<S: AsRef<str>>(events: &[S]) -> usize {
    events.iter().map(|e| e.as_ref().len() + 1).sum()
}

fn push_list<S: AsRef<str>>(out: &mut String, events: &[S]) {
    out.push('[');
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(e.as_ref());
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_capped_by_count_and_by_bytes_but_never_empty() {
        assert_eq!(batch_len(&[]), 0);
        assert_eq!(batch_len(&[10; 30]), 30);
        assert_eq!(batch_len(&[10; 250]), MAX_BATCH_EVENTS);
        assert_eq!(batch_len(&[100_000; 5]), 2, "three would pass 256 KiB");
        assert_eq!(batch_len(&[1 << 20, 10]), 1, "a huge event goes alone");
        // Exactly at the limit still fits.
        let exact = MAX_BATCH_BYTES - ENVELOPE_BYTES - 1;
        assert_eq!(batch_len(&[exact / 2, exact - exact / 2, 1]), 2);
    }

    #[test]
    fn the_body_holds_the_events_verbatim_and_its_length_matches_the_plan() {
        let events = [r#"{"id":"a"}"#, r#"{"id":"b","x":[1,2]}"#];
        let body = batch_body(&events);
        assert_eq!(body, r#"{"events":[{"id":"a"},{"id":"b","x":[1,2]}]}"#);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["events"][1]["x"][1], 2);
        let lens: Vec<usize> = events.iter().map(|e| e.len()).collect();
        assert!(batch_len(&lens) == 2 && body.len() <= MAX_BATCH_BYTES);
        assert_eq!(batch_body::<&str>(&[]), r#"{"events":[]}"#);
        assert_eq!(
            events_array(&events),
            r#"[{"id":"a"},{"id":"b","x":[1,2]}]"#
        );
    }
}
