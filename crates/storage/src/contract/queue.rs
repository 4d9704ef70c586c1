//! The task queue, its leases and the callback outbox.

use super::*;

pub async fn limits_duplicates_and_isolation(s: &dyn MetadataStore) {
    s.create_account(&account("a")).await.unwrap();
    s.create_account(&account("b")).await.unwrap();
    assert_eq!(
        s.account_by_api_key_hash("hash-a")
            .await
            .unwrap()
            .unwrap()
            .id,
        "a"
    );
    assert_eq!(
        s.insert_task(&task("1", "a", Some("x"), 1), 2, NONE)
            .await
            .unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(
        s.insert_task(&task("2", "a", Some("x"), 2), 2, NONE)
            .await
            .unwrap(),
        InsertOutcome::DuplicateExternalId
    );
    // The same external id is fine in another account.
    assert_eq!(
        s.insert_task(&task("3", "b", Some("x"), 3), 2, NONE)
            .await
            .unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(
        s.insert_task(&task("4", "a", None, 4), 2, NONE)
            .await
            .unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(
        s.insert_task(&task("5", "a", None, 5), 2, NONE)
            .await
            .unwrap(),
        InsertOutcome::LimitReached
    );
    assert_eq!(s.task_for_account("a", "x").await.unwrap().unwrap().id, "1");
    assert_eq!(s.task_for_account("b", "x").await.unwrap().unwrap().id, "3");
    assert!(s.task_for_account("b", "1").await.unwrap().is_none());
    let listed: Vec<_> = s
        .list_tasks("a", "avatar", 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(listed, ["4", "1"]);
}

pub async fn queue_claims_each_task_once_and_recovers_expired_leases(s: &dyn MetadataStore) {
    s.create_account(&account("a")).await.unwrap();
    s.insert_task(&task("1", "a", None, 1), 10, NONE)
        .await
        .unwrap();
    s.insert_task(&task("2", "a", None, 2), 10, NONE)
        .await
        .unwrap();
    let t1 = s
        .claim_task("w1", 100, 200, 2, NONE)
        .await
        .unwrap()
        .unwrap();
    let t2 = s
        .claim_task("w2", 100, 200, 2, NONE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((t1.id.as_str(), t2.id.as_str()), ("1", "2"));
    assert!(s
        .claim_task("w3", 150, 250, 2, NONE)
        .await
        .unwrap()
        .is_none());
    assert!(s.renew_lease("1", "w1", 1000, 40, 150).await.unwrap());
    assert!(!s.renew_lease("1", "w2", 300, 40, 150).await.unwrap());
    // w2 dies: its lease expires and another worker takes the task over.
    let again = s
        .claim_task("w3", 250, 400, 2, NONE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id.as_str(), again.attempts), ("2", 2));
    assert!(s
        .finish_task(
            "2",
            "w2",
            &TaskFinish::Failed {
                message: "x".into()
            },
            260,
            NONE
        )
        .await
        .unwrap()
        .is_none());
    // w3 dies too: no attempts left, so the task fails with a reason.
    assert!(s
        .claim_task("w4", 500, 600, 2, NONE)
        .await
        .unwrap()
        .is_none());
    let failed = s
        .fail_exhausted(500, 2, "rendering failed after", NONE)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].state, TaskState::Failed);
    assert!(failed[0]
        .status_msg
        .as_deref()
        .unwrap_or("")
        .contains("2 attempts"));
    let done = s
        .finish_task(
            "1",
            "w1",
            &TaskFinish::Succeed {
                result: "{}".into(),
            },
            510,
            NONE,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((done.state, done.progress), (TaskState::Succeed, 100));
    assert_eq!(s.queue_stats().await.unwrap(), QueueStats::default());
}

/// A worker that stops gives its task back: no owner, the attempt not
/// counted, claimable at once by another worker.
pub async fn a_released_task_is_claimable_again_without_spending_an_attempt(s: &dyn MetadataStore) {
    s.create_account(&account("a")).await.unwrap();
    s.insert_task(&task("1", "a", None, 1), 10, NONE)
        .await
        .unwrap();
    let t = s
        .claim_task("w1", 100, 200, 1, NONE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.attempts, 1);
    let back = s
        .finish_task(
            "1",
            "w1",
            &TaskFinish::Release {
                note: "stopping".into(),
            },
            120,
            NONE,
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((back.attempts, back.lease_owner), (0, None));
    assert_eq!(back.last_error.as_deref(), Some("stopping"));
    // One attempt allowed, and it is still there.
    let again = s
        .claim_task("w2", 130, 230, 1, NONE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id.as_str(), again.attempts), ("1", 1));
}

pub async fn callbacks_go_out_in_order_per_task(s: &dyn MetadataStore) {
    for (i, task) in [("m1", "t1"), ("m2", "t1"), ("m3", "t2")] {
        s.enqueue_callback(&NewCallback {
            message_id: i.into(),
            task_id: task.into(),
            account_id: "a".into(),
            url: "http://x".into(),
            body: "{}".into(),
            created_at: 1,
        })
        .await
        .unwrap();
    }
    let ids = |v: Vec<CallbackRecord>| v.into_iter().map(|c| c.message_id).collect::<Vec<_>>();
    // A claim leases the due rows: another dispatcher claiming at the same
    // time gets none of them.
    let claimed = s.claim_callbacks(10, 50, 10).await.unwrap();
    assert_eq!(ids(claimed.clone()), ["m1", "m3"]);
    assert!(s.claim_callbacks(10, 50, 10).await.unwrap().is_empty());
    s.callback_retry(claimed[0].id, 1, 100, "boom")
        .await
        .unwrap();
    // m3's sender died: it is due again when its lease ends; m2 waits
    // behind m1's retry.
    assert_eq!(ids(s.claim_callbacks(60, 90, 10).await.unwrap()), ["m3"]);
    s.callback_delivered(claimed[0].id, 100).await.unwrap();
    assert_eq!(
        ids(s.claim_callbacks(100, 150, 10).await.unwrap()),
        ["m2", "m3"]
    );

    // Dispatchers racing over one outbox: every row goes to exactly one.
    for i in 0..40 {
        s.enqueue_callback(&NewCallback {
            message_id: format!("r{i:02}"),
            task_id: format!("race{i}"),
            account_id: "a".into(),
            url: "http://x".into(),
            body: "{}".into(),
            created_at: 200,
        })
        .await
        .unwrap();
    }
    let claims = futures::future::join_all((0..4).map(|_| s.claim_callbacks(300, 400, 15))).await;
    let mut all: Vec<String> = claims
        .into_iter()
        .flat_map(|c| ids(c.unwrap()))
        .filter(|m| m.starts_with('r'))
        .collect();
    let claimed = all.len();
    all.sort();
    all.dedup();
    assert_eq!(
        (claimed, all.len()),
        (40, 40),
        "a row was claimed twice or lost"
    );
}

fn callback_of(t: &TaskRecord) -> Option<NewCallback> {
    Some(NewCallback {
        message_id: format!("msg-{}-{}-{}", t.id, t.state.as_str(), t.attempts),
        task_id: t.id.clone(),
        account_id: t.account_id.clone(),
        url: "http://x".into(),
        body: t.state.as_str().into(),
        created_at: t.updated_at,
    })
}

async fn outbox(s: &dyn MetadataStore) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let due = s
            .claim_callbacks(i64::MAX / 4, i64::MAX / 4, 100)
            .await
            .unwrap();
        if due.is_empty() {
            return bodies;
        }
        for c in due {
            bodies.push(format!("{}:{}", c.task_id, c.body));
            s.callback_delivered(c.id, 1).await.unwrap();
        }
    }
}

/// The outbox row is written with the state change, and only when the
/// change happened (a stale worker's finish writes nothing).
pub async fn state_changes_and_their_callbacks_commit_together(s: &dyn MetadataStore) {
    let cb: CallbackFor<'_> = &callback_of;
    s.create_account(&account("a")).await.unwrap();
    s.insert_task(&task("1", "a", None, 1), 10, cb)
        .await
        .unwrap();
    s.insert_task(&task("2", "a", None, 2), 10, cb)
        .await
        .unwrap();
    // Limit reached: neither task nor callback.
    assert_eq!(
        s.insert_task(&task("3", "a", None, 3), 2, cb)
            .await
            .unwrap(),
        InsertOutcome::LimitReached
    );
    assert_eq!(outbox(s).await, ["1:submitted", "2:submitted"]);
    let t1 = s.claim_task("w1", 100, 200, 3, cb).await.unwrap().unwrap();
    assert_eq!(t1.id, "1");
    assert_eq!(outbox(s).await, ["1:processing"]);
    // w1 stalls; w2 takes the task over after the lease.
    let t1b = s.claim_task("w2", 300, 400, 3, cb).await.unwrap().unwrap();
    assert_eq!((t1b.id.as_str(), t1b.attempts), ("1", 2));
    let succeed = TaskFinish::Succeed {
        result: "{}".into(),
    };
    assert!(s
        .finish_task("1", "w1", &succeed, 310, cb)
        .await
        .unwrap()
        .is_none());
    assert_eq!(outbox(s).await, ["1:processing"]);
    let done = s.finish_task("1", "w2", &succeed, 320, cb).await.unwrap();
    assert_eq!(done.map(|t| t.state), Some(TaskState::Succeed));
    assert_eq!(outbox(s).await, ["1:succeed"]);
    // Finishing twice is refused: the task is rendered to completion once.
    assert!(s
        .finish_task("1", "w2", &succeed, 330, cb)
        .await
        .unwrap()
        .is_none());
    // An exhausted task fails with its callback.
    s.claim_task("w3", 400, 500, 1, cb).await.unwrap().unwrap();
    let failed = s.fail_exhausted(600, 1, "failed after", cb).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(outbox(s).await, ["2:processing", "2:failed"]);
    // A cancel writes its callback with it; cancelling a final task writes
    // nothing.
    s.insert_task(&task("4", "a", None, 4), 10, cb)
        .await
        .unwrap();
    assert_eq!(outbox(s).await, ["4:submitted"]);
    let cancelled = s.cancel_task("4", "cancelled", 700, cb).await.unwrap();
    assert_eq!(cancelled.map(|t| t.state), Some(TaskState::Failed));
    assert_eq!(outbox(s).await, ["4:failed"]);
    assert!(s
        .cancel_task("4", "again", 710, cb)
        .await
        .unwrap()
        .is_none());
    assert!(outbox(s).await.is_empty());
}

/// Workers racing over one queue: every task goes to exactly one.
pub async fn concurrent_claimers_share_the_queue_without_overlap(s: &dyn MetadataStore) {
    s.create_account(&account("a")).await.unwrap();
    for i in 0..200 {
        s.insert_task(&task(&format!("t{i:03}"), "a", None, i), 1000, NONE)
            .await
            .unwrap();
    }
    let claimers = (0..8).map(|w| async move {
        let mut got = Vec::new();
        while let Some(t) = s
            .claim_task(&format!("w{w}"), 10, 1_000_000, 3, NONE)
            .await
            .unwrap()
        {
            got.push(t.id);
        }
        got
    });
    let mut all: Vec<String> = futures::future::join_all(claimers)
        .await
        .into_iter()
        .flatten()
        .collect();
    all.sort();
    let claimed = all.len();
    all.dedup();
    assert_eq!((claimed, all.len()), (200, 200));
}

/// Janitors on several nodes take disjoint rows of finished tasks, expired
/// audio and old uploads, oldest first.
pub async fn janitors_on_several_nodes_take_disjoint_rows(s: &dyn MetadataStore) {
    s.create_account(&account("a")).await.unwrap();
    for i in 0..10 {
        let id = format!("t{i}");
        s.insert_task(&task(&id, "a", None, i), 100, NONE)
            .await
            .unwrap();
        s.claim_task("w", 100, 200, 3, NONE).await.unwrap().unwrap();
        let ok = TaskFinish::Succeed {
            result: "{}".into(),
        };
        s.finish_task(&id, "w", &ok, 150, NONE)
            .await
            .unwrap()
            .unwrap();
        s.insert_audio(&AudioRecord {
            id: format!("s{i}"),
            account_id: "a".into(),
            blob_key: format!("audio/s{i}.wav"),
            duration: 1.0,
            timeline: None,
            text: "hi".into(),
            voice_id: "v".into(),
            language: "en".into(),
            created_at: i,
            expires_at: 100 + i,
        })
        .await
        .unwrap();
        s.insert_asset(&asset(
            &format!("u{i}"),
            "a",
            "x@e",
            &format!("f{i}.jpg"),
            "image",
            i,
        ))
        .await
        .unwrap();
    }
    let tasks = |v: Vec<TaskRecord>| v.into_iter().map(|t| t.id).collect::<Vec<_>>();
    let a = tasks(s.tasks_created_before(1000, 6).await.unwrap());
    let b = tasks(s.tasks_created_before(1000, 6).await.unwrap());
    assert_eq!(a, ["t0", "t1", "t2", "t3", "t4", "t5"]);
    assert_eq!(b, ["t6", "t7", "t8", "t9"]);
    assert!(s.tasks_created_before(1000, 6).await.unwrap().is_empty());

    let audio = |v: Vec<AudioRecord>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        audio(s.audio_expired(500, 7).await.unwrap()),
        ["s0", "s1", "s2", "s3", "s4", "s5", "s6"]
    );
    assert_eq!(
        audio(s.audio_expired(500, 7).await.unwrap()),
        ["s7", "s8", "s9"]
    );
    assert!(s.audio_expired(500, 7).await.unwrap().is_empty());

    let uploads = |v: Vec<AssetRecord>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        uploads(s.assets_created_before(1000, 4).await.unwrap()),
        ["u0", "u1", "u2", "u3"]
    );
    assert_eq!(
        uploads(s.assets_created_before(1000, 4).await.unwrap()),
        ["u4", "u5", "u6", "u7"]
    );
    assert_eq!(
        uploads(s.assets_created_before(1000, 4).await.unwrap()),
        ["u8", "u9"]
    );
    assert!(s.assets_created_before(1000, 4).await.unwrap().is_empty());
}
