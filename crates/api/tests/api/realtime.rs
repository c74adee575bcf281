//! The WebSocket surface with real clients: offers reach exactly the eligible nurses,
//! withdrawals follow claims, `resume` fills gaps, slow and oversized clients are cut
//! off, tickets are single-use, and two nodes share events over NATS.

use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::json;
use shiftwire_api::config::EventBusKind;
use shiftwire_test_support::builders::{
    FACILITY_AT, Facility, book, cancel_shift, facility, id_of, nearby_nurse, nurse_at, post_shift,
    release, shift_body,
};
use shiftwire_test_support::{
    assert_json, assert_problem, db, eventually, five_messages_a_second, spawn_app, spawn_app_with,
    ws::{WAIT, Ws, offer_of, offers_of, refused_upgrade, sentinel, upgrade_request, ws_url},
};
use sqlx::PgPool;
use std::time::Duration;
use tokio_tungstenite::{
    MaybeTlsStream,
    tungstenite::{Message, protocol::frame::coding::CloseCode},
};
use uuid::Uuid;

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_new_shift_is_offered_to_eligible_nurses_and_no_one_else(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General").await;
    let (eligible, _) = nearby_nurse(&app).await;
    let (far, _) = nurse_at(&app, (34.05, -118.24), 25.0).await;
    let (unverified, unverified_id) = nearby_nurse(&app).await;
    db::forget_credentials(&app.pool, unverified_id).await;
    let (lpn, lpn_id) = nearby_nurse(&app).await;
    db::rn_licence_becomes_lpn(&app.pool, lpn_id).await;
    let (lapsed, lapsed_id) = nearby_nurse(&app).await;
    db::bls_expires_tomorrow(&app.pool, lapsed_id).await;
    let (busy, _) = nearby_nurse(&app).await;

    let mut sockets = Vec::new();
    for token in [&eligible, &far, &unverified, &lpn, &lapsed, &busy] {
        sockets.push(Ws::connect(&app, token).await);
    }
    // The busy nurse books a shift while connected: the index learns it from the event.
    let earlier = post_shift(&app, &f, &shift_body(2 * 24 * 60, 8)).await;
    book(&app, &busy, id_of(&earlier)).await;

    // The BLS of the lapsed nurse runs out before this shift (two days out) ends.
    let shift = post_shift(&app, &f, &shift_body(2 * 24 * 60 + 60, 8)).await;
    let shift_id = id_of(&shift);

    let offer = offer_of(&mut sockets[0], shift_id).await;
    let offer = &offer;
    assert_eq!(offer["shift"]["id"], shift_id.to_string());
    assert_eq!(offer["shift"]["facility"]["id"], f.id.to_string());
    assert_eq!(offer["shift"]["role"], "RN");
    let distance = offer["shift"]["distance_km"].as_f64().expect("distance");
    assert!((1.0..2.0).contains(&distance), "{distance}");
    let seq = offer["seq"].as_i64().expect("seq");
    assert!(seq > sockets[0].hello_seq());
    let outbox_seq = db::outbox_position_of(&app.pool, "shift.opened", shift_id).await;
    assert_eq!(
        seq, outbox_seq,
        "an offer carries its event's stream position"
    );
    assert!(
        offer.get("handoff").is_none() && offer["shift"].get("handoff").is_none(),
        "offers carry no handoff packet or other nurse's data"
    );

    // Each excluded nurse: a frame sent after the shift arrives, and no offer before it.
    let tokens = [&far, &unverified, &lpn, &lapsed, &busy];
    for (ws, token) in sockets[1..].iter_mut().zip(tokens) {
        sentinel(&app, token).await;
        let frames = ws.frames_until("verification.updated").await;
        let offers: Vec<_> = offers_of(&frames)
            .into_iter()
            .filter(|o| o["shift"]["id"] == shift_id.to_string())
            .collect();
        assert!(
            offers.is_empty(),
            "an ineligible nurse was offered {offers:?}"
        );
    }
    // The eligible nurse got it exactly once.
    sentinel(&app, &eligible).await;
    let rest = sockets[0].frames_until("verification.updated").await;
    assert!(offers_of(&rest).is_empty(), "offered twice: {rest:?}");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_claim_withdraws_the_offer_from_everyone_else(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General").await;
    let mut nurses = Vec::new();
    for _ in 0..3 {
        let (token, id) = nearby_nurse(&app).await;
        let ws = Ws::connect(&app, &token).await;
        nurses.push((token, id, ws));
    }
    let mut scheduler = Ws::connect(&app, &f.scheduler).await;
    let shift = id_of(&post_shift(&app, &f, &shift_body(240, 8)).await);
    for (_, _, ws) in &mut nurses {
        let offer = ws.next().await;
        assert_eq!(offer["type"], "shift.offered");
        assert_eq!(offer["shift"]["id"], shift.to_string());
    }
    let booking = book(&app, &nurses[0].0, shift).await;

    let winner = nurses[0].2.next().await;
    assert_eq!(winner["type"], "booking.updated", "{winner}");
    assert_eq!(winner["booking"]["id"], booking.to_string());
    let booked_seq = winner["seq"].as_i64().expect("seq");
    for (_, _, ws) in &mut nurses[1..] {
        let withdrawn = ws.next().await;
        assert_eq!(withdrawn["type"], "shift.withdrawn", "{withdrawn}");
        assert_eq!(withdrawn["shift_id"], shift.to_string());
        assert_eq!(withdrawn["reason"], "booked");
        assert_eq!(withdrawn["seq"].as_i64(), Some(booked_seq));
    }
    let notice = scheduler.next().await;
    assert_eq!(notice["type"], "shift.booked", "{notice}");
    assert_eq!(notice["shift_id"], shift.to_string());
    assert_eq!(notice["nurse"]["id"], nurses[0].1.to_string());
    assert_eq!(notice["nurse"]["name"], "Test Nurse");

    // A cancellation withdraws with its reason; the release re-offers with a new seq.
    let second = id_of(&post_shift(&app, &f, &shift_body(20 * 60, 8)).await);
    for (_, _, ws) in &mut nurses {
        assert_eq!(ws.next().await["type"], "shift.offered");
    }
    let cancelled = cancel_shift(&app, &f, second, "Unit closed for the night").await;
    assert_json(cancelled, StatusCode::OK).await;
    for (_, _, ws) in &mut nurses {
        let withdrawn = ws.next().await;
        assert_eq!(withdrawn["type"], "shift.withdrawn");
        assert_eq!(withdrawn["reason"], "cancelled");
    }
    let released = release(&app, &nurses[0].0, booking, "Family emergency").await;
    assert_json(released, StatusCode::OK).await;
    let released = nurses[0].2.frames_until("shift.offered").await;
    assert_eq!(released[0]["type"], "booking.updated");
    assert_eq!(released[0]["booking"]["status"], "released");
    for (_, _, ws) in &mut nurses[1..] {
        let again = ws.next().await;
        assert_eq!(again["type"], "shift.offered");
        assert_eq!(again["shift"]["id"], shift.to_string());
        assert!(
            again["seq"].as_i64() > Some(booked_seq),
            "a new opening, a new seq"
        );
    }
    let notice = scheduler.next().await;
    assert_eq!(notice["type"], "shift.released");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn resume_sends_what_was_missed_and_nothing_twice(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General").await;
    let (token, nurse_id) = nearby_nurse(&app).await;
    let (rival, _) = nearby_nurse(&app).await;

    // Offered while connected, then away.
    let mut ws = Ws::connect(&app, &token).await;
    let taken = id_of(&post_shift(&app, &f, &shift_body(240, 8)).await);
    let kept = id_of(&post_shift(&app, &f, &shift_body(24 * 60, 8)).await);
    let first = ws.next().await;
    let second = ws.next().await;
    assert_eq!(first["shift"]["id"], taken.to_string());
    assert_eq!(second["shift"]["id"], kept.to_string());
    let last_seq = second["seq"].as_i64().expect("seq");
    // The offers are logged (after delivery, in a batch); wait for that before leaving.
    eventually("offers logged", || async {
        db::count_offers_logged_for(&app.pool, nurse_id).await == 2
    })
    .await;
    drop(ws);

    // Meanwhile: one offered shift is booked by someone else, a new one opens.
    book(&app, &rival, taken).await;
    let missed = id_of(&post_shift(&app, &f, &shift_body(48 * 60, 8)).await);

    let mut ws = Ws::connect(&app, &token).await;
    assert!(ws.hello_seq() > last_seq);
    ws.send(json!({ "type": "resume", "last_seq": last_seq }))
        .await;
    let replay = ws.frames_until("resumed").await;
    assert_eq!(replay.len(), 3, "{replay:?}");
    assert_eq!(replay[0]["type"], "shift.withdrawn");
    assert_eq!(replay[0]["shift_id"], taken.to_string());
    assert_eq!(replay[0]["reason"], "booked");
    assert_eq!(replay[1]["type"], "shift.offered");
    assert_eq!(replay[1]["shift"]["id"], missed.to_string());
    assert!(
        replay[0]["seq"].as_i64() < replay[1]["seq"].as_i64(),
        "in seq order"
    );
    assert_eq!(replay[2]["offers"], 1);
    assert_eq!(replay[2]["withdrawals"], 1);
    assert_eq!(replay[2]["last_seq"].as_i64(), Some(ws.hello_seq()));

    // The resumed connection holds the still-open offer: its booking is withdrawn live.
    book(&app, &rival, kept).await;
    let withdrawn = ws.next().await;
    assert_eq!(withdrawn["type"], "shift.withdrawn");
    assert_eq!(withdrawn["shift_id"], kept.to_string());

    // Resuming again from the new position re-sends nothing.
    let now = withdrawn["seq"].as_i64().expect("seq");
    ws.send(json!({ "type": "resume", "last_seq": now })).await;
    let replay = ws.frames_until("resumed").await;
    assert_eq!(replay.len(), 1, "{replay:?}");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_client_that_does_not_read_is_cut_off_and_others_keep_receiving(pool: PgPool) {
    let app = spawn_app_with(pool, |s| {
        s.notify.queue_capacity = 4;
        s.tcp_send_buffer = Some(4096);
    })
    .await;
    let f = facility(&app, "Mercy General").await;
    let (reader, _) = nearby_nurse(&app).await;
    let (stalled, _) = nearby_nurse(&app).await;
    let mut reading = Ws::connect(&app, &reader).await;

    // A client with a tiny receive buffer that never reads after its hello.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let stream = socket.connect(app.addr).await.expect("connect");
    let request = upgrade_request(&ws_url(&app, ""), &stalled);
    let (socket, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
        .await
        .expect("upgrade");
    let mut stalled_ws = Ws::greeted(socket).await;
    assert_eq!(app.state.hub.connections(), 2);

    let mut body = shift_body(240, 1);
    body["unit"] = json!("x".repeat(100));
    let mut posted = 0;
    while app.state.hub.connections() == 2 {
        assert!(posted < 1000, "the stalled client was never cut off");
        // Shifts an hour apart, so none overlaps another.
        body["starts_at"] = json!(chrono::Utc::now() + chrono::Duration::hours(4 + posted));
        body["ends_at"] = json!(chrono::Utc::now() + chrono::Duration::hours(5 + posted));
        post_shift(&app, &f, &body).await;
        posted += 1;
        // The reading client gets every offer.
        let offer = reading.next().await;
        assert_eq!(offer["type"], "shift.offered");
    }
    // And keeps receiving after the other was cut off.
    post_shift(&app, &f, &shift_body(2000 * 60, 1)).await;
    assert_eq!(reading.next().await["type"], "shift.offered");
    // The stalled client finds a close (1013) or a dropped connection after what fit.
    let mut frames = 0;
    let code = loop {
        match tokio::time::timeout(WAIT, stalled_ws.socket.next()).await {
            Ok(Some(Ok(Message::Text(_)))) => frames += 1,
            Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_)) | None) => break None,
            Err(_) => panic!("the stalled connection stayed open"),
        }
    };
    assert!(frames < posted, "{frames} of {posted}");
    assert!(code.is_none() || code == Some(1013), "{code:?}");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn bad_client_messages(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (token, _) = nearby_nurse(&app).await;
    let mut ws = Ws::connect(&app, &token).await;
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.next().await["type"], "pong");
    ws.send(json!({ "type": "subscribe", "to": "everything" }))
        .await;
    let error = ws.next().await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "invalid_message");
    ws.send(json!({ "type": "location", "lat": 91.0, "lon": 0.0 }))
        .await;
    assert_eq!(ws.next().await["code"], "invalid_location");
    // Still open after bad input.
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.next().await["type"], "pong");
    // Over 4 KiB closes with 1009.
    ws.socket
        .send(Message::text("x".repeat(5000)))
        .await
        .expect("send");
    assert_eq!(ws.close_code().await, Some(1009));
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_live_location_moves_where_a_nurse_is_matched_from(pool: PgPool) {
    let app = spawn_app(pool).await;
    let f = facility(&app, "Mercy General").await;
    // Home in Los Angeles; working in Sacramento today.
    let (token, nurse_id) = nurse_at(&app, (34.05, -118.24), 25.0).await;
    let mut ws = Ws::connect(&app, &token).await;
    ws.send(json!({ "type": "location", "lat": FACILITY_AT.0 + 0.01, "lon": FACILITY_AT.1 }))
        .await;
    ws.send(json!({ "type": "ping" })).await;
    assert_eq!(ws.next().await["type"], "pong");
    let shift = id_of(&post_shift(&app, &f, &shift_body(240, 8)).await);
    let offer = ws.next().await;
    assert_eq!(offer["shift"]["id"], shift.to_string());
    assert!(offer["shift"]["distance_km"].as_f64() < Some(1.2));
    // Stored for the REST path too: the claim measures from the same position.
    eventually("live location stored", || {
        db::has_live_location(&app.pool, nurse_id)
    })
    .await;
    book(&app, &token, shift).await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn tickets_are_single_use_and_tokens_are_required(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (token, _) = nearby_nurse(&app).await;
    assert_eq!(
        app.post("/v1/ws/ticket", &json!({}), None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let response = app.post("/v1/ws/ticket", &json!({}), Some(&token)).await;
    let ticket = assert_json(response, StatusCode::OK).await;
    assert_eq!(ticket["expires_in"], 30);
    let ticket = ticket["ticket"].as_str().expect("ticket");

    let url = ws_url(&app, &format!("?ticket={ticket}"));
    let (socket, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("a fresh ticket connects");
    let ws = Ws::greeted(socket).await;
    drop(ws);
    assert_eq!(refused_upgrade(&url, "a used ticket").await, 401);
    for url in [ws_url(&app, ""), ws_url(&app, "?ticket=made-up")] {
        assert_eq!(refused_upgrade(&url, &url).await, 401);
    }
    // A plain GET is a problem, not a hang.
    let response = app.get("/v1/ws", Some(&token)).await;
    assert_problem(response, StatusCode::BAD_REQUEST, "not_a_websocket").await;
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn suspension_sign_out_and_shutdown_close_sockets(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (suspended, suspended_id) = nearby_nurse(&app).await;
    let mut ws = Ws::connect(&app, &suspended).await;
    let admin = app.admin_token().await;
    let reason = "Licence under investigation";
    let response = app.suspend_nurse(&admin, suspended_id, reason).await;
    assert_json(response, StatusCode::OK).await;
    assert_eq!(ws.close_code().await, Some(1008));
    // And a suspended nurse cannot reconnect.
    let request = upgrade_request(&ws_url(&app, ""), &suspended);
    assert_eq!(refused_upgrade(request, "a suspended nurse").await, 403);

    let session = app.nurse_session("+14155550199").await;
    let mut ws = Ws::connect(&app, &session.access).await;
    let response = app.sign_out(&session.refresh).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(ws.close_code().await, Some(1000));

    let (token, _) = nearby_nurse(&app).await;
    let mut ws = Ws::connect(&app, &token).await;
    app.shutdown.cancel();
    assert_eq!(ws.close_code().await, Some(u16::from(CloseCode::Away)));
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn two_nodes_on_nats_deliver_each_others_shifts(pool: PgPool) {
    // Each test run gets its own subject, as each deployment would.
    let subject = format!("shiftwire.test.{}", Uuid::now_v7().simple());
    let nats = |s: &mut shiftwire_api::Settings| {
        s.event_bus = EventBusKind::Nats {
            url: "nats://127.0.0.1:4222".into(),
            subject: subject.clone(),
        };
    };
    let posting = spawn_app_with(pool.clone(), nats).await;
    let delivering = spawn_app_with(pool, nats).await;
    let f: Facility = facility(&posting, "Mercy General").await;
    let (token, _) = nearby_nurse(&posting).await;
    let mut ws = Ws::connect(&delivering, &token).await;
    let shift = id_of(&post_shift(&posting, &f, &shift_body(240, 8)).await);
    let offer = ws.next().await;
    assert_eq!(offer["type"], "shift.offered");
    assert_eq!(offer["shift"]["id"], shift.to_string());
    assert_eq!(delivering.state.hub.connections(), 1);
    assert_eq!(posting.state.hub.connections(), 0);
    // A claim on the delivering node is announced to a scheduler on the posting node.
    let mut scheduler = Ws::connect(&posting, &f.scheduler).await;
    book(&delivering, &token, shift).await;
    let notice = scheduler.next().await;
    assert_eq!(notice["type"], "shift.booked");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_flooding_client_is_closed_and_others_are_not(pool: PgPool) {
    let app = spawn_app_with(pool, five_messages_a_second).await;
    let (calm, _) = nearby_nurse(&app).await;
    let (noisy, _) = nearby_nurse(&app).await;
    let mut calm = Ws::connect(&app, &calm).await;
    let mut noisy = Ws::connect(&app, &noisy).await;
    for _ in 0..50 {
        if noisy
            .socket
            .send(Message::text(r#"{"type":"ping"}"#))
            .await
            .is_err()
        {
            break;
        }
    }
    assert_eq!(noisy.close_code().await, Some(1008));
    calm.send(json!({ "type": "ping" })).await;
    assert_eq!(calm.next().await["type"], "pong");
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_connection_that_never_answers_pings_is_closed(pool: PgPool) {
    let app = spawn_app_with(pool, |s| s.notify.ping_interval = Duration::from_secs(1)).await;
    let (token, _) = nearby_nurse(&app).await;
    let mut silent = Ws::connect(&app, &token).await;
    let mut alive = Ws::connect(&app, &token).await;
    // `alive` reads (and so answers each ping, as tungstenite does); `silent` does not.
    let reader = tokio::spawn(async move {
        let mut pings = 0;
        while pings < 3 {
            match alive.socket.next().await {
                Some(Ok(Message::Ping(_))) => pings += 1,
                Some(Ok(_)) => {}
                other => panic!("the answering connection ended: {other:?}"),
            }
        }
        alive
    });
    let mut alive = tokio::time::timeout(WAIT, reader)
        .await
        .expect("three pings within 10 s")
        .expect("reader");
    // By now the silent one has missed a pong and been closed (1008), while the other stays.
    assert_eq!(silent.close_code().await, Some(1008));
    alive.send(json!({ "type": "ping" })).await;
    assert_eq!(alive.next().await["type"], "pong");
}
