//! AccountIndex on PostgreSQL.

use super::TestDb;
use crate::error::StorageError;
use crate::meta::AccountIndex;
use crate::model::User;
use crate::postgres::PgIndex;
use crate::testutil::fake_seal;
use crate::users::UnsealedSecret;
use std::sync::Arc;

fn user(id: &str, name: &str) -> User {
    User { id: id.into(), name: name.into() }
}

/// The user of an access key, as the credential cache looks it up.
async fn key_of(index: &Arc<PgIndex>, access_key: &str) -> Option<String> {
    index.access_key(access_key).await.unwrap().map(|k| k.user.name)
}

#[tokio::test(flavor = "multi_thread")]
async fn users_keys_and_devices_keep_the_sqlite_semantics() {
    let Some(db) = TestDb::create().await else { return };
    let index = Arc::new(PgIndex::connect(&db.url).await.unwrap());
    let bob = index.create_user(user("u-bob", "bob"), "AKBOB1", b"s1".to_vec()).await.unwrap();
    assert!(matches!(index.create_user(user("u-2", "bob"), "AKNEW", b"x".to_vec()).await, Err(StorageError::UserExists)));
    assert!(matches!(index.create_user(user("u-3", "carol"), "AKBOB1", b"x".to_vec()).await, Err(StorageError::AccessKeyExists)));
    assert!(index.user_by_name("carol").await.unwrap().is_none(), "a user whose key was taken is not created");
    assert_eq!(index.user_by_id("u-bob").await.unwrap().map(|u| u.name), Some(bob.name.clone()));

    index.add_access_key("bob", "AKBOB2", b"s2".to_vec()).await.unwrap();
    assert!(matches!(index.add_access_key("bob", "AKBOB2", b"x".to_vec()).await, Err(StorageError::AccessKeyExists)));
    assert!(matches!(index.add_access_key("nobody", "AKX", b"x".to_vec()).await, Err(StorageError::NoSuchUser)));
    assert_eq!(index.list_access_keys(Some("bob")).await.unwrap().iter().map(|k| k.access_key.as_str()).collect::<Vec<_>>(), ["AKBOB1", "AKBOB2"]);
    assert!(matches!(index.list_access_keys(Some("nobody")).await, Err(StorageError::NoSuchUser)));

    // ensure_user_with_key: creates, then replaces the secret of a key the user holds.
    let root = index.ensure_user_with_key("root", "u-root", "AKROOT", b"r1".to_vec()).await.unwrap();
    assert_eq!(index.ensure_user_with_key("root", "u-other", "AKROOT", b"r2".to_vec()).await.unwrap().id, root.id);
    let key = index.access_key("AKROOT").await.unwrap().unwrap();
    assert_eq!((key.sealed_secret, key.user.id), (b"r2".to_vec(), root.id));
    assert!(matches!(index.ensure_user_with_key("root", "u-root", "AKBOB1", b"x".to_vec()).await, Err(StorageError::AccessKeyExists)));
    assert_eq!(index.list_access_keys(None).await.unwrap().len(), 3);

    let off = index.set_access_key_enabled("AKBOB1", false).await.unwrap();
    assert!(!off.enabled && off.user == "bob");
    assert_eq!(key_of(&index, "AKBOB1").await, None, "a disabled key signs nothing");
    assert_eq!(key_of(&index, "AKBOB2").await.as_deref(), Some("bob"));
    index.set_access_key_enabled("AKBOB1", true).await.unwrap();
    assert!(matches!(index.set_access_key_enabled("AKNONE", true).await, Err(StorageError::NoSuchAccessKey)));
    index.delete_access_key("AKBOB1").await.unwrap();
    assert!(matches!(index.delete_access_key("AKBOB1").await, Err(StorageError::NoSuchAccessKey)));

    let device = index.enable_mfa("bob", "mfa-1", b"t1".to_vec()).await.unwrap();
    index.enable_mfa("bob", "mfa-2", b"t2".to_vec()).await.unwrap();
    assert!(index.mfa_device(&device.serial).await.unwrap().is_none(), "a new device replaces the old one");
    assert_eq!(index.mfa_device("mfa-2").await.unwrap().unwrap().sealed_secret, b"t2");
    assert!(matches!(index.enable_mfa("nobody", "mfa-3", b"x".to_vec()).await, Err(StorageError::NoSuchUser)));

    let users = index.list_users().await.unwrap();
    assert_eq!(users.iter().map(|u| (u.name.as_str(), u.keys, u.enabled_keys)).collect::<Vec<_>>(), [("bob", 1, 1), ("root", 1, 1)]);
    let client = index.client().await.unwrap();
    client.execute("INSERT INTO buckets (name, owner_id, region, created_ms) VALUES ('bobs', 'u-bob', 'us-east-1', 0)", &[]).await.unwrap();
    let info = index.user_info("bob").await.unwrap();
    assert_eq!((info.bucket_names, info.access_keys.len(), info.mfa_serial.as_deref()), (vec!["bobs".to_string()], 1, Some("mfa-2")));
    assert_eq!(info.summary.buckets, 1);
    assert!(matches!(index.delete_user("bob").await, Err(StorageError::UserOwnsBuckets(b)) if b == ["bobs"]));
    client.execute("DELETE FROM buckets WHERE name = 'bobs'", &[]).await.unwrap();
    index.delete_user("bob").await.unwrap();
    assert_eq!(key_of(&index, "AKBOB2").await, None);
    assert!(index.mfa_device("mfa-2").await.unwrap().is_none());
    assert!(matches!(index.user_info("bob").await, Err(StorageError::NoSuchUser)));
    assert!(matches!(index.delete_user("bob").await, Err(StorageError::NoSuchUser)));
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_in_the_clear_are_sealed_once_and_never_handed_out_before() {
    let Some(db) = TestDb::create().await else { return };
    let index = Arc::new(PgIndex::connect(&db.url).await.unwrap());
    let client = index.client().await.unwrap();
    client
        .batch_execute(
            "INSERT INTO users (id, name, created_ms) VALUES ('u1', 'root', 0);
             INSERT INTO access_keys (access_key, secret, sealed, user_id, created_ms) VALUES ('AKOLD', 'old-secret', FALSE, 'u1', 0);
             INSERT INTO mfa_devices (user_id, serial, secret, sealed, created_ms) VALUES ('u1', 'mfa-root', 'old-totp', FALSE, 0);",
        )
        .await
        .unwrap();
    assert_eq!(key_of(&index, "AKOLD").await, None, "an unsealed key is not handed out");
    assert!(index.mfa_device("mfa-root").await.unwrap().is_none());
    assert_eq!(index.seal_unsealed_secrets(Box::new(fake_seal)).await.unwrap(), 2);
    assert_eq!(index.seal_unsealed_secrets(Box::new(fake_seal)).await.unwrap(), 0);
    let expected = fake_seal(&UnsealedSecret::AccessKey { access_key: "AKOLD", secret: b"old-secret" });
    let key = index.access_key("AKOLD").await.unwrap().unwrap();
    assert_eq!(key.sealed_secret, expected);
    let device = index.mfa_device("mfa-root").await.unwrap().unwrap();
    assert_eq!(device.sealed_secret, fake_seal(&UnsealedSecret::Mfa { user_id: "u1", serial: "mfa-root", secret: b"old-totp" }));
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_creating_one_user_make_it_once() {
    let Some(db) = TestDb::create().await else { return };
    let (a, b) = (PgIndex::connect(&db.url).await.unwrap(), PgIndex::connect(&db.url).await.unwrap());
    for round in 0..10 {
        let name = format!("user{round}");
        let (ka, kb) = (format!("AKA{round}"), format!("AKB{round}"));
        let (x, y) = tokio::join!(
            a.create_user(user(&format!("a{round}"), &name), &ka, b"a".to_vec()),
            b.create_user(user(&format!("b{round}"), &name), &kb, b"b".to_vec()),
        );
        let outcomes = [x.is_ok(), y.is_ok()];
        assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 1, "round {round}: exactly one node creates the user");
        let lost = if x.is_ok() { y } else { x };
        assert!(matches!(lost, Err(StorageError::UserExists)), "round {round}: {lost:?}");
        let keys = a.list_access_keys(Some(&name)).await.unwrap();
        assert_eq!(keys.len(), 1, "the loser's key is not left behind");
        // The same key claimed by two new users: one AccessKeyExists.
        let key = format!("AKSHARED{round}");
        let (c, d) = (format!("c{round}"), format!("d{round}"));
        let (x, y) = tokio::join!(a.create_user(user(&c, &c), &key, b"a".to_vec()), b.create_user(user(&d, &d), &key, b"b".to_vec()));
        assert!(matches!((&x, &y), (Ok(_), Err(StorageError::AccessKeyExists)) | (Err(StorageError::AccessKeyExists), Ok(_))), "{x:?} {y:?}");
        // Two nodes starting with the same configured user and key: both get the one user.
        let (root, new_a, new_b) = (format!("root{round}"), format!("ra{round}"), format!("rb{round}"));
        let (x, y) = tokio::join!(
            a.ensure_user_with_key(&root, &new_a, "AKROOT", b"a".to_vec()),
            b.ensure_user_with_key(&root, &new_b, "AKROOT", b"b".to_vec()),
        );
        if round == 0 {
            assert_eq!(x.unwrap().id, y.unwrap().id);
        } else {
            // AKROOT belongs to root0: every later root is refused it, whoever creates them.
            assert!(matches!((x, y), (Err(StorageError::AccessKeyExists), Err(StorageError::AccessKeyExists))));
        }
    }
}
