use super::*;
use crate::common::error::{ChatError, ErrorCode};
use crate::protocol::{error_frame, internal_error_frame};

#[test]
fn a_pacer_allows_the_first_point_then_one_per_second() {
    let mut p = Pacer::default();
    assert!(p.ready(10_000));
    assert!(!p.ready(10_999), "less than a second later");
    assert!(p.ready(11_000));
    assert!(!p.ready(11_500));
}

#[test]
fn every_kind_has_at_most_twenty_doubles_and_its_point_fills_them_all() {
    // Analytics Engine takes 20 doubles; the doubles tables are the SQL's contract.
    for kind in [Kind::Room, Kind::Registry, Kind::Webhooks, Kind::Front] {
        assert!(kind.doubles().len() <= 20, "{kind:?}");
    }
    assert_eq!(
        RoomCounts::default().point("r").doubles.len(),
        ROOM_DOUBLES.len()
    );
    assert_eq!(
        FrontCounts::default().point().doubles.len(),
        FRONT_DOUBLES.len()
    );
    let mut t = Tally::<{ WEBHOOK_DOUBLES.len() }>::default();
    t.add(webhooks::WAITING, 1);
    let p = t.take(Kind::Webhooks, "lobby", 0).unwrap();
    assert_eq!(p.doubles.len(), WEBHOOK_DOUBLES.len());
}

#[test]
fn a_room_counts_messages_deliveries_and_refusals_by_code_from_its_frames() {
    let mut c = RoomCounts::default();
    let message = r#"{"type":"message","room":"r","from":{"user_id":"a"},"data":1,"seq":1}"#;
    c.queued(message, || 3);
    c.queued(message, || 2);
    c.queued(r#"{"type":"ack","id":"x","seq":1}"#, || {
        unreachable!("not asked")
    });
    c.queued(&error_frame(ErrorCode::BadJson, "bad", None), || 0);
    c.queued(
        &error_frame(ErrorCode::RateLimited, "slow", Some("i")),
        || 0,
    );
    c.queued(&error_frame(ErrorCode::RateLimited, "slow", None), || 0);
    c.queued(&error_frame(ErrorCode::Banned, "x", None), || 0);
    c.queued(&internal_error_frame("abc", None), || 0);
    let p = c.point("r");
    let named = p.dev_json(0)["named"].clone();
    assert_eq!(named["messages"], 2.0);
    assert_eq!(named["deliveries"], 5.0);
    assert_eq!(named["refused_bad_json"], 1.0);
    assert_eq!(named["refused_rate_limited"], 2.0);
    assert_eq!(named["refused_other"], 1.0, "banned");
    assert_eq!(named["refused"], 4.0, "the sum; `internal` is no refusal");
}

#[test]
fn turns_add_their_waits_and_keep_the_longest() {
    let mut c = RoomCounts::default();
    c.turn(3);
    c.turn(10);
    c.turn(0);
    let d = c.point("r").doubles;
    let at = |n: &str| d[ROOM_DOUBLES.iter().position(|x| *x == n).unwrap()];
    assert_eq!(
        (at("turns"), at("turn_ms"), at("turn_ms_max")),
        (3.0, 13.0, 10.0)
    );
}

#[test]
fn a_room_writes_at_most_one_point_per_turn_and_per_second_and_none_when_idle() {
    let mut m = RoomMetrics::default();
    assert_eq!(m.end_of_turn("r", 0), None, "nothing counted: no point");
    m.counts.connects += 1;
    let first = m.end_of_turn("r", 1_000).expect("the first point at once");
    assert_eq!((first.kind, first.index.as_str()), (Kind::Room, "r"));
    m.counts.messages += 1;
    assert_eq!(m.end_of_turn("r", 1_500), None, "within the second: kept");
    m.counts.messages += 1;
    let second = m.end_of_turn("r", 2_000).unwrap();
    assert_eq!(second.doubles[0], 2.0, "what was kept is in the next point");
    assert!(m.counts.is_empty(), "counts start again");
}

#[test]
fn the_front_counts_refusals_by_code_and_unauthorized_by_reason() {
    let mut f = FrontCounts::default();
    f.upgraded();
    let body = |code, m: &str| ChatError::new(code, m).http_body();
    f.refused(&body(ErrorCode::BadRoom, "x"));
    f.refused(&body(ErrorCode::RateLimited, "x"));
    f.refused(&body(ErrorCode::MethodNotAllowed, "x"));
    f.refused(&body(ErrorCode::Internal, "x"));
    f.refused("not json");
    f.refused(&body(
        ErrorCode::Unauthorized,
        "missing token: pass ?token=…",
    ));
    f.refused(&body(ErrorCode::Unauthorized, "token has expired"));
    f.refused(&body(ErrorCode::Unauthorized, "token signature is invalid"));
    let named = f.point().dev_json(0)["named"].clone();
    assert_eq!(named["upgrades"], 1.0);
    assert_eq!(named["refused_bad_room"], 1.0);
    assert_eq!(named["refused_rate_limited"], 1.0);
    assert_eq!(
        named["refused_other"], 1.0,
        "method_not_allowed; internal is not counted"
    );
    assert_eq!(named["unauthorized_missing"], 1.0);
    assert_eq!(named["unauthorized_expired"], 1.0);
    assert_eq!(named["unauthorized_signature"], 1.0);
    let total: f64 = f.point().doubles.iter().sum();
    assert_eq!(total, 7.0, "nothing else counted");
}

#[test]
fn the_reasons_of_our_unauthorized_messages() {
    use AuthReason::*;
    for (m, r) in [
        (
            "this endpoint needs Authorization: Bearer <ADMIN_TOKEN>",
            Admin,
        ),
        ("token is not valid yet (nbf)", Expired),
        ("token was issued in the future (iat)", Expired),
        ("token is malformed", Malformed),
        ("token signature is not base64url", Malformed),
        (
            "token algorithm is not accepted (HS256, RS256, ES256, EdDSA)",
            Malformed,
        ),
        ("the key set's key cannot verify this token", Signature),
        ("token `kid` names no AUTH_SECRETS key", Key),
        ("server has no AUTH_SECRET configured", Key),
        ("token has no `kid` naming a key of the key set", Key),
        ("token `iss` is not AUTH_ISSUER", Claims),
        ("token lacks the required `sub` claim", Claims),
    ] {
        assert_eq!(AuthReason::of(m), r, "{m}");
    }
}

#[test]
fn a_tally_paces_its_points_and_restarts_from_zero() {
    let mut t = Tally::<{ REGISTRY_DOUBLES.len() }>::default();
    assert!(t.take(Kind::Registry, "registry-1", 0).is_none());
    t.add(registry::REQUESTS, 2);
    t.add(registry::PRESENCE_REPORTS, 5);
    t.add(99, 1); // out of range: ignored, never a panic
    let p = t.take(Kind::Registry, "registry-1", 0).unwrap();
    assert_eq!(p.doubles, vec![2.0, 0.0, 5.0]);
    t.add(registry::ALARMS, 1);
    assert!(t.take(Kind::Registry, "registry-1", 999).is_none());
    assert_eq!(
        t.take(Kind::Registry, "registry-1", 1_000).unwrap().doubles,
        vec![0.0, 1.0, 0.0]
    );
}

#[test]
fn the_dev_listing_names_every_double() {
    let p = RoomCounts::default().point("lobby");
    let v = p.dev_json(42);
    assert_eq!(
        (v["kind"].as_str(), v["index"].as_str(), v["at"].as_u64()),
        (Some("room"), Some("lobby"), Some(42))
    );
    assert_eq!(v["named"].as_object().unwrap().len(), ROOM_DOUBLES.len());
}
