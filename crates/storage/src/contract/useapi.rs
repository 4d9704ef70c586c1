//! useapi.net's records: uploads, linked accounts and avatars.

use super::*;

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
