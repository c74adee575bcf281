//! The event order without a global lock (crates/outbox): writers take ids without
//! waiting for one another, and readers answer in id order with no gap, waiting for a
//! writer still at work below what they see and passing over a position no event took.

use shiftwire_core::DomainEvent;
use shiftwire_outbox::{
    Stored, last_position, pause_writers, prune, read_after, read_after_waiting, record,
};
use sqlx::PgPool;
use std::time::Duration;
use uuid::Uuid;

fn event() -> DomainEvent {
    DomainEvent::ProfileUpdated {
        nurse_id: Uuid::now_v7(),
    }
}

/// What a read answered: `(position, "event" | "hole")`.
fn shape(read: &[Stored]) -> Vec<(i64, &'static str)> {
    read.iter()
        .map(|stored| match stored {
            Stored::Event(e) => (e.seq, "event"),
            Stored::Hole { seq } => (*seq, "hole"),
            Stored::Unreadable { seq, .. } => (*seq, "unreadable"),
        })
        .collect()
}

/// Commits one event on its own and answers its position.
async fn committed(pool: &PgPool) -> i64 {
    let mut tx = pool.begin().await.expect("begin");
    let seq = record(&mut tx, vec![event()]).await.expect("record")[0].seq;
    tx.commit().await.expect("commit");
    seq
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_reader_does_not_pass_a_writer_still_at_work_below_what_it_sees(pool: PgPool) {
    let mut slow = pool.begin().await.expect("begin");
    let first = record(&mut slow, vec![event()]).await.expect("record")[0].seq;
    // A later writer does not wait for the first, and commits before it.
    let second = committed(&pool).await;
    assert!(second > first);
    let read = read_after(&pool, first - 1, 100).await.expect("read");
    assert!(
        read.is_empty(),
        "read past a position still being written: {:?}",
        shape(&read)
    );
    slow.commit().await.expect("commit");
    let read = read_after(&pool, first - 1, 100).await.expect("read");
    assert_eq!(shape(&read), [(first, "event"), (second, "event")]);
}

/// Whether, within 5 s, some session of this database waits for a lock of this kind
/// (`transactionid`: a reader's placeholder waiting for the writer of its position;
/// `advisory`: a writer held back by a pause).
async fn someone_waits_for(pool: &PgPool, lock: &str) -> bool {
    for _ in 0..500 {
        let waits: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
                            AND wait_event_type = 'Lock' AND wait_event = $1)",
        )
        .bind(lock)
        .fetch_one(pool)
        .await
        .expect("locks");
        if waits {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_reader_waits_for_a_writer_that_commits_while_it_waits(pool: PgPool) {
    let mut slow = pool.begin().await.expect("begin");
    let first = record(&mut slow, vec![event(), event()])
        .await
        .expect("record");
    let second = committed(&pool).await;
    let reader = tokio::spawn({
        let pool = pool.clone();
        let after = first[0].seq - 1;
        // A long wait, so the test does not race it.
        async move {
            read_after_waiting(&pool, after, 100, Duration::from_secs(30))
                .await
                .expect("read")
        }
    });
    assert!(
        someone_waits_for(&pool, "transactionid").await,
        "the reader waits for the writer of the missing position"
    );
    slow.commit().await.expect("commit");
    let all = [
        (first[0].seq, "event"),
        (first[1].seq, "event"),
        (second, "event"),
    ];
    assert_eq!(shape(&reader.await.expect("reader")), all);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_rolled_back_position_becomes_a_hole_and_reading_goes_on(pool: PgPool) {
    let mut undone = pool.begin().await.expect("begin");
    let lost = record(&mut undone, vec![event()]).await.expect("record")[0].seq;
    undone.rollback().await.expect("rollback");
    let next = committed(&pool).await;
    let read = read_after(&pool, lost - 1, 100).await.expect("read");
    assert_eq!(shape(&read), [(lost, "hole"), (next, "event")]);
    // The hole is final: read again, it answers the same.
    let again = read_after(&pool, lost - 1, 100).await.expect("read");
    assert_eq!(shape(&again), [(lost, "hole"), (next, "event")]);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_writer_whose_position_a_reader_took_first_takes_the_next(pool: PgPool) {
    let before = committed(&pool).await;
    // A reader took the next position as a hole before its writer's row existed (the
    // writer had drawn it and not yet written it).
    sqlx::query(
        "INSERT INTO outbox (id, topic, payload) OVERRIDING SYSTEM VALUE
         VALUES ($1, 'outbox.hole', 'null')",
    )
    .bind(before + 1)
    .execute(&pool)
    .await
    .expect("hole");
    let seq = committed(&pool).await;
    assert_eq!(
        seq,
        before + 2,
        "the writer drew the taken position and then the next"
    );
    let read = read_after(&pool, before, 100).await.expect("read");
    assert_eq!(shape(&read), [(before + 1, "hole"), (seq, "event")]);
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn the_last_position_waits_for_writers_in_flight(pool: PgPool) {
    let mut slow = pool.begin().await.expect("begin");
    let seq = record(&mut slow, vec![event()]).await.expect("record")[0].seq;
    let last = tokio::spawn({
        let pool = pool.clone();
        async move { last_position(&pool).await.expect("last position") }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !last.is_finished(),
        "answered a position while a writer below it was at work"
    );
    slow.commit().await.expect("commit");
    assert_eq!(last.await.expect("last position"), seq);
}

/// A position to start from is sound only if a writer draws its id after it holds the
/// ordering lock (shared): a writer held back by a pause has drawn nothing yet, so an id
/// drawn meanwhile by anyone else comes before its.
#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn a_writer_held_back_by_a_pause_draws_its_id_after_it(pool: PgPool) {
    let mut pause = pool.begin().await.expect("begin");
    pause_writers(&mut pause).await.expect("pause");
    let waiting = tokio::spawn({
        let pool = pool.clone();
        async move {
            let mut tx = pool.begin().await.expect("begin");
            let published = record(&mut tx, vec![event(), event()])
                .await
                .expect("record");
            tx.commit().await.expect("commit");
            published.iter().map(|p| p.seq).collect::<Vec<_>>()
        }
    });
    assert!(
        someone_waits_for(&pool, "advisory").await,
        "the writer waits for the pause"
    );
    let drawn: i64 = sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('outbox', 'id'))")
        .fetch_one(&pool)
        .await
        .expect("nextval");
    pause.commit().await.expect("end the pause");
    let ids = waiting.await.expect("writer");
    assert!(
        ids.iter().all(|id| drawn < *id),
        "{drawn} drawn during the pause, then the writer's {ids:?}"
    );
}

#[sqlx::test(migrator = "shiftwire_api::MIGRATOR")]
async fn positions_pruned_away_are_passed_over_not_filled(pool: PgPool) {
    let old: Vec<i64> = vec![committed(&pool).await, committed(&pool).await];
    let kept = committed(&pool).await;
    sqlx::query("UPDATE outbox SET created_at = now() - interval '2 days' WHERE id = ANY($1)")
        .bind(&old)
        .execute(&pool)
        .await
        .expect("age");
    assert_eq!(
        prune(&pool, Duration::from_secs(86_400))
            .await
            .expect("prune"),
        2
    );
    // A reader far behind passes over what was pruned, and writes no hole there.
    let read = read_after(&pool, 0, 100).await.expect("read");
    assert_eq!(shape(&read), [(kept, "event")]);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(rows, 1);
}
