//! One contract, two stores: every check runs on SQLite and on PostgreSQL
//! (`on_both_stores!` at the end makes a test of each per store), and the
//! two schemas are compared column by column.

use crate::metadata::*;
use crate::records::*;
use crate::sql::{Db, SqlStore};
use crate::testing;
use std::collections::BTreeSet;

/// No callback rows.
pub const NONE: CallbackFor<'static> = &|_| None;

pub fn account(id: &str) -> NewAccount {
    NewAccount {
        account: AccountRecord {
            id: id.into(),
            name: id.into(),
            access_key: format!("ak-{id}"),
            secret_key: "sk".into(),
            webhook_secret: None,
            max_concurrent_tasks: None,
            created_at: 1,
        },
        api_key_hash: format!("hash-{id}"),
    }
}

pub fn task(id: &str, account: &str, ext: Option<&str>, at: Millis) -> NewTask {
    NewTask {
        id: id.into(),
        account_id: account.into(),
        external_task_id: ext.map(Into::into),
        kind: "avatar".into(),
        spec: "{}".into(),
        callback_url: None,
        created_at: at,
        link: None,
    }
}

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

/// Rotation replaces every API key and the AccessKey/SecretKey pair at
/// once, for that account only.
pub async fn credentials_are_replaced_at_once(s: &dyn MetadataStore) {
    s.create_account(&account("a")).await.unwrap();
    s.create_account(&account("b")).await.unwrap();
    s.add_api_key("a", "hash-a2", 2).await.unwrap();
    assert!(s
        .replace_credentials("a", "hash-new", "ak-new", "sk-new", 3)
        .await
        .unwrap());
    for gone in ["hash-a", "hash-a2"] {
        assert!(s.account_by_api_key_hash(gone).await.unwrap().is_none());
    }
    assert!(s.account_by_access_key("ak-a").await.unwrap().is_none());
    let a = s.account_by_access_key("ak-new").await.unwrap().unwrap();
    assert_eq!((a.id.as_str(), a.secret_key.as_str()), ("a", "sk-new"));
    assert_eq!(
        s.account_by_api_key_hash("hash-new")
            .await
            .unwrap()
            .unwrap()
            .id,
        "a"
    );
    assert!(s.account_by_api_key_hash("hash-b").await.unwrap().is_some());
    assert!(!s
        .replace_credentials("nobody", "h", "ak", "sk", 4)
        .await
        .unwrap());
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

fn asset(id: &str, account: &str, email: &str, name: &str, kind: &str, at: Millis) -> AssetRecord {
    AssetRecord {
        id: id.into(),
        account_id: account.into(),
        email: email.into(),
        file_name: name.into(),
        kind: kind.into(),
        mime: "image/jpeg".into(),
        blob_key: format!("assets/{account}/{name}"),
        width: Some(640),
        height: Some(480),
        duration_ms: None,
        created_at: at,
    }
}

pub async fn uploads_are_listed_filtered_paged_and_deleted_per_owner(s: &dyn MetadataStore) {
    s.create_account(&account("a")).await.unwrap();
    s.create_account(&account("b")).await.unwrap();
    let mine = [
        asset("11", "a", "x@e", "face_one.jpg", "image", 1),
        asset("12", "a", "x@e", "voice.mp3", "audio", 2),
        asset("13", "a", "x@e", "face_two.jpg", "image", 3),
        asset("14", "a", "y@e", "other_email.jpg", "image", 4),
        asset("15", "b", "x@e", "not_yours.jpg", "image", 5),
    ];
    for a in &mine {
        s.insert_asset(a).await.unwrap();
    }
    let q = |kind: Option<&str>, name: Option<&str>, newest_first, offset, limit| AssetQuery {
        email: "x@e".into(),
        kind: kind.map(Into::into),
        name_contains: name.map(Into::into),
        newest_first,
        offset,
        limit,
    };
    let ids = |v: Vec<AssetRecord>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.assets("a", &q(None, None, false, 0, 10)).await.unwrap()),
        ["11", "12", "13"]
    );
    assert_eq!(
        ids(s.assets("a", &q(None, None, true, 0, 2)).await.unwrap()),
        ["13", "12"]
    );
    assert_eq!(
        ids(s.assets("a", &q(None, None, true, 2, 2)).await.unwrap()),
        ["11"]
    );
    assert_eq!(
        ids(s
            .assets("a", &q(Some("image"), None, false, 0, 10))
            .await
            .unwrap()),
        ["11", "13"]
    );
    // A name filter is a plain substring: `%` and `_` are not wildcards.
    assert_eq!(
        ids(s
            .assets("a", &q(None, Some("two"), false, 0, 10))
            .await
            .unwrap()),
        ["13"]
    );
    assert!(s
        .assets("a", &q(None, Some("%"), false, 0, 10))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(s
            .assets("a", &q(None, Some("_"), false, 0, 10))
            .await
            .unwrap()),
        ["11", "13"]
    );
    let got = s
        .assets("a", &q(None, Some("one"), false, 0, 10))
        .await
        .unwrap();
    assert_eq!(got, vec![mine[0].clone()]);

    let old = s.assets_created_before(3, 10).await.unwrap();
    assert_eq!(ids(old), ["11", "12"]);
    assert_eq!(s.assets_created_before(6, 1).await.unwrap().len(), 1);

    // Only the owner's, under that email, are deleted; the rest are ignored.
    let gone = s
        .delete_assets(
            "a",
            "x@e",
            &["11".into(), "14".into(), "15".into(), "99".into()],
        )
        .await
        .unwrap();
    assert_eq!(ids(gone), ["11"]);
    assert_eq!(
        ids(s.assets("a", &q(None, None, false, 0, 10)).await.unwrap()),
        ["12", "13"]
    );
    assert_eq!(
        s.assets("b", &q(None, None, false, 0, 10))
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Submissions racing for a linked email's last slots: exactly `max_jobs`
/// get in, and each of those is linked.
pub async fn linked_email_limits_hold_under_racing_submissions(s: &dyn MetadataStore) {
    s.create_account(&account("a")).await.unwrap();
    let linked = |id: String, email: &str| NewTask {
        link: Some(TaskLink {
            email: email.into(),
            max_jobs: 2,
        }),
        ..task(&id, "a", None, 1)
    };
    let racing = (0..8).map(|i| {
        let t = linked(format!("r{i}"), "x@e");
        async move { s.insert_task(&t, 100, NONE).await.unwrap() }
    });
    let outcomes = futures::future::join_all(racing).await;
    let inserted = outcomes
        .iter()
        .filter(|o| **o == InsertOutcome::Inserted)
        .count();
    assert_eq!(inserted, 2, "{outcomes:?}");
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, InsertOutcome::Inserted | InsertOutcome::LinkLimitReached)));
    assert_eq!(
        s.active_tasks_by_email("a").await.unwrap(),
        vec![("x@e".to_string(), 2)]
    );
    // Another email of the same account has its own slots.
    assert_eq!(
        s.insert_task(&linked("y1".into(), "y@e"), 100, NONE)
            .await
            .unwrap(),
        InsertOutcome::Inserted
    );
    // A finished task frees its email's slot.
    let done = s.claim_task("w", 10, 100, 3, NONE).await.unwrap().unwrap();
    s.finish_task(
        &done.id,
        "w",
        &TaskFinish::Failed {
            message: "x".into(),
        },
        20,
        NONE,
    )
    .await
    .unwrap();
    let email_of_done = if done.id.starts_with('y') {
        "y@e"
    } else {
        "x@e"
    };
    assert_eq!(
        s.insert_task(&linked("z1".into(), email_of_done), 100, NONE)
            .await
            .unwrap(),
        InsertOutcome::Inserted
    );
}

/// Public ids: distinct under racing callers, increasing, in the range the
/// domain turns into ids below 2^53.
pub async fn public_ids_are_unique_under_racing_callers(s: &dyn MetadataStore) {
    let first = s.next_id().await.unwrap();
    assert!(first >= 100_000_000_000, "{first}");
    let ids = futures::future::join_all((0..64).map(|_| s.next_id())).await;
    let mut ids: Vec<i64> = ids.into_iter().map(|r| r.unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 64);
    assert!(ids[0] > first);
    assert!(ids[63] < 9_007_199_254_740);
}

/// Usage counts the account's succeeded tasks (by when they finished) and
/// its speech syntheses, in the window only.
pub async fn usage_sums_rendered_seconds_and_tts_calls(s: &dyn MetadataStore) {
    s.create_account(&account("a")).await.unwrap();
    s.create_account(&account("b")).await.unwrap();
    for (id, owner, secs, ok) in [
        ("u1", "a", 2.5, true),
        ("u2", "a", 4.0, true),
        ("u3", "a", 9.0, false),
        ("u4", "b", 7.0, true),
    ] {
        let t = NewTask {
            spec: format!("{{\"audio_duration\":{secs:?}}}"),
            ..task(id, owner, None, 10)
        };
        s.insert_task(&t, 10, NONE).await.unwrap();
        let c = s.claim_task("w", 20, 1000, 3, NONE).await.unwrap().unwrap();
        let finish = if ok {
            TaskFinish::Succeed {
                result: "{}".into(),
            }
        } else {
            TaskFinish::Failed {
                message: "no".into(),
            }
        };
        s.finish_task(&c.id, "w", &finish, 100, NONE).await.unwrap();
    }
    for (id, owner, at) in [
        ("s1", "a", 50),
        ("s2", "a", 60),
        ("s3", "a", 5000),
        ("s4", "b", 50),
    ] {
        s.insert_audio(&AudioRecord {
            id: id.into(),
            account_id: owner.into(),
            blob_key: format!("audio/{id}.wav"),
            duration: 1.0,
            timeline: None,
            text: "hi".into(),
            voice_id: "v".into(),
            language: "en".into(),
            created_at: at,
            expires_at: at + 1000,
        })
        .await
        .unwrap();
    }
    let u = s.usage("a", 0, 1000).await.unwrap();
    assert_eq!((u.video_seconds, u.tts_calls), (6.5, 2));
    let none = s.usage("a", 101, 999).await.unwrap();
    assert_eq!((none.video_seconds, none.tts_calls), (0.0, 0));
}

/// Linked accounts are upserted per email, avatars are the owner's, and a
/// cancel frees the linked email's slot.
pub async fn linked_accounts_avatars_task_links_and_cancel(s: &dyn MetadataStore) {
    s.create_account(&account("a")).await.unwrap();
    s.create_account(&account("b")).await.unwrap();
    let linked = |email: &str, max_jobs| LinkedAccountRecord {
        account_id: "a".into(),
        email: email.into(),
        password_hash: "h".into(),
        max_jobs,
        created_at: 1,
    };
    s.put_linked_account(&linked("x@e.com", 1)).await.unwrap();
    s.put_linked_account(&linked("x@e.com", 3)).await.unwrap();
    s.put_linked_account(&linked("y@e.com", 2)).await.unwrap();
    let all = s.linked_accounts("a").await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].max_jobs, 3, "a second put updates");
    assert!(s.linked_accounts("b").await.unwrap().is_empty());
    assert!(s.delete_linked_account("a", "y@e.com").await.unwrap());
    assert!(!s.delete_linked_account("a", "y@e.com").await.unwrap());

    let avatar = AvatarRecord {
        id: "123456789012".into(),
        account_id: "a".into(),
        email: "x@e.com".into(),
        nickname: "n".into(),
        prompt: "p".into(),
        scene: "business".into(),
        image_key: "avatars/a/1.png".into(),
        tts_speaker: "oversea_male1".into(),
        tts_speed: 1.5,
        tts_emotion: "happy".into(),
        created_at: 5,
        updated_at: 5,
    };
    s.insert_avatar(&avatar).await.unwrap();
    assert_eq!(
        s.avatar("a", &avatar.id).await.unwrap(),
        Some(avatar.clone())
    );
    assert_eq!(s.avatar("b", &avatar.id).await.unwrap(), None);
    assert_eq!(s.avatars("a").await.unwrap(), vec![avatar.clone()]);
    assert!(!s.delete_avatar("b", &avatar.id).await.unwrap());
    assert!(s.delete_avatar("a", &avatar.id).await.unwrap());

    for id in ["t1", "t2"] {
        let linked = NewTask {
            link: Some(TaskLink {
                email: "x@e.com".into(),
                max_jobs: 5,
            }),
            ..task(id, "a", None, 10)
        };
        s.insert_task(&linked, 10, NONE).await.unwrap();
    }
    assert_eq!(
        s.active_tasks_by_email("a").await.unwrap(),
        vec![("x@e.com".to_string(), 2)]
    );
    let cancelled = s
        .cancel_task("t1", "stop", 20, NONE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cancelled.state, TaskState::Failed);
    assert_eq!(cancelled.status_msg.as_deref(), Some("stop"));
    assert_eq!(s.cancel_task("t1", "again", 21, NONE).await.unwrap(), None);
    assert_eq!(
        s.active_tasks_by_email("a").await.unwrap(),
        vec![("x@e.com".to_string(), 1)]
    );
    s.delete_task("t2").await.unwrap();
    assert!(s.active_tasks_by_email("a").await.unwrap().is_empty());
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

/// A migrated SQLite store in a temporary folder (gone with the folder).
async fn sqlite() -> (tempfile::TempDir, SqlStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open_sqlite(&dir.path().join("m.db"))
        .await
        .unwrap();
    (dir, store)
}

/// A migrated PostgreSQL store on a database of its own.
struct Postgres {
    url: String,
    store: SqlStore,
}

impl Postgres {
    async fn new() -> Self {
        let url = testing::create_database(&testing::admin_url())
            .await
            .unwrap();
        let store = SqlStore::open_postgres(&url).await.unwrap();
        Self { url, store }
    }

    async fn drop_database(self) {
        self.store.close().await;
        testing::drop_database(&testing::admin_url(), &self.url)
            .await
            .unwrap();
    }
}

/// Makes `sqlite::<check>` and `postgres::<check>` tests of each check, each
/// on a fresh store.
macro_rules! on_both_stores {
    ($($check:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $check() {
                    let (_dir, store) = super::sqlite().await;
                    super::$check(&store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $check() {
                    let db = super::Postgres::new().await;
                    super::$check(&db.store).await;
                    db.drop_database().await;
                }
            )*
        }
    };
}

on_both_stores!(
    limits_duplicates_and_isolation,
    credentials_are_replaced_at_once,
    queue_claims_each_task_once_and_recovers_expired_leases,
    a_released_task_is_claimable_again_without_spending_an_attempt,
    callbacks_go_out_in_order_per_task,
    state_changes_and_their_callbacks_commit_together,
    uploads_are_listed_filtered_paged_and_deleted_per_owner,
    linked_email_limits_hold_under_racing_submissions,
    public_ids_are_unique_under_racing_callers,
    usage_sums_rendered_seconds_and_tts_calls,
    linked_accounts_avatars_task_links_and_cancel,
    concurrent_claimers_share_the_queue_without_overlap,
    janitors_on_several_nodes_take_disjoint_rows,
);

/// A column as both schemas can say it: table, name, nullable, and the
/// kind of value (the Rust type the stores read it as).
type Column = (String, String, bool, String);

/// SQLite's public id counter is a table; PostgreSQL's is a sequence.
const SQLITE_ONLY_TABLES: &[&str] = &["id_sequence"];

async fn columns(store: &SqlStore) -> BTreeSet<Column> {
    let kind = |declared: &str| match declared.to_ascii_lowercase().as_str() {
        "integer" | "bigint" => "i64".to_string(),
        "real" | "double precision" => "f64".to_string(),
        "text" => "String".to_string(),
        other => other.to_string(),
    };
    match &store.db {
        Db::Sqlite(pool) => {
            let rows: Vec<(String, String, i64, i64, String)> = sqlx::query_as(
                "SELECT m.name, p.name, p.\"notnull\", p.pk, p.type
                 FROM sqlite_master m JOIN pragma_table_info(m.name) p
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite%' AND m.name <> '_sqlx_migrations'",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            rows.into_iter()
                .filter(|(table, ..)| !SQLITE_ONLY_TABLES.contains(&table.as_str()))
                .map(|(table, column, not_null, pk, declared)| {
                    // An INTEGER PRIMARY KEY is the rowid: never null,
                    // whatever the column's NOT NULL says.
                    let rowid = pk > 0 && declared.eq_ignore_ascii_case("integer");
                    (table, column, not_null == 0 && !rowid, kind(&declared))
                })
                .collect()
        }
        Db::Postgres(pool) => {
            let rows: Vec<(String, String, String, String)> = sqlx::query_as(
                "SELECT table_name::TEXT, column_name::TEXT, is_nullable::TEXT, data_type::TEXT
                 FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'",
            )
            .fetch_all(pool)
            .await
            .unwrap();
            rows.into_iter()
                .map(|(table, column, nullable, declared)| {
                    (table, column, nullable == "YES", kind(&declared))
                })
                .collect()
        }
    }
}

#[tokio::test]
async fn both_schemas_have_the_same_columns() {
    let (_dir, lite) = sqlite().await;
    let pg = Postgres::new().await;
    let on_sqlite = columns(&lite).await;
    let on_postgres = columns(&pg.store).await;
    pg.drop_database().await;
    assert!(on_sqlite.len() > 50, "{on_sqlite:?}");
    let only_sqlite: Vec<_> = on_sqlite.difference(&on_postgres).collect();
    let only_postgres: Vec<_> = on_postgres.difference(&on_sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "SQLite only: {only_sqlite:?}\nPostgreSQL only: {only_postgres:?}"
    );
}
