//! Accounts, their credentials and usage, and the public id counter.

use super::*;

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
