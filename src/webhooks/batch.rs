//! What one POST carries: the oldest events of the outbox, in order, as `{"events":[...]}` —
//! the events' texts exactly as recorded, joined with commas.

/// At most this many events per POST.
pub const MAX_BATCH_EVENTS: usize = 100;
/// At most this many bytes of body per POST — unless a single event is larger, which then
/// goes alone.
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Bytes of `{"events":[` and `]}`.
const ENVELOPE_BYTES: usize = r#"{"events":[]}"#.len();

/// The running total of `event bytes + 1` (each event and a comma) the events of one POST may
/// reach: the body is the envelope, the events, and one comma fewer than events. The outbox
/// applies this rule in SQL; [`batch_len`] states it.
pub const BATCH_BUDGET: usize = MAX_BATCH_BYTES - ENVELOPE_BYTES + 1;

/// How many of the oldest events (their byte lengths, oldest first) the next POST takes: as
/// many as fit in [`MAX_BATCH_EVENTS`] and [`BATCH_BUDGET`], and always at least one.
pub fn batch_len(lengths: &[usize]) -> usize {
    let mut total = 0;
    let mut n = 0;
    for len in lengths.iter().take(MAX_BATCH_EVENTS) {
        total += len + 1;
        if total > BATCH_BUDGET && n > 0 {
            break;
        }
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body of `n` events of these lengths.
    fn body_len(lengths: &[usize]) -> usize {
        ENVELOPE_BYTES + lengths.iter().sum::<usize>() + lengths.len().saturating_sub(1)
    }

    #[test]
    fn a_batch_is_capped_by_count_and_by_bytes_but_never_empty() {
        assert_eq!(batch_len(&[]), 0);
        assert_eq!(batch_len(&[10; 30]), 30);
        assert_eq!(batch_len(&[10; 250]), MAX_BATCH_EVENTS);
        assert_eq!(batch_len(&[100_000; 5]), 2, "three would pass 256 KiB");
        assert_eq!(batch_len(&[1 << 20, 10]), 1, "a huge event goes alone");
    }

    #[test]
    fn the_budget_is_exactly_the_body_limit() {
        // Two events whose body is exactly MAX_BATCH_BYTES fit; one byte more does not.
        let room = MAX_BATCH_BYTES - ENVELOPE_BYTES - 1;
        let exact = [room / 2, room - room / 2];
        assert_eq!(body_len(&exact), MAX_BATCH_BYTES);
        assert_eq!(batch_len(&[exact[0], exact[1], 1]), 2);
        assert_eq!(batch_len(&[exact[0], exact[1] + 1]), 1);
        assert!(body_len(&[exact[0], exact[1] + 1]) > MAX_BATCH_BYTES);
    }
}
