//! CopyObject: a new version that shares the source's stored bytes (no data is copied), with
//! COPY or REPLACE metadata and the x-amz-copy-source-if-* conditions. Unless both sides are
//! unencrypted or both SSE-S3, the bytes are streamed through: opened with the source's key,
//! sealed with the destination's.

use crate::request::copy_source::{load_source, SourceObject};
use crate::request::ctx::Ctx;
use crate::http::error::{S3Error, S3Result};
use crate::request::upload::{ingest_options, write_conditions};
use crate::request::object_headers::{meta_from_request, quoted_etag};
use crate::http::xml::{self, timestamp};
use actix_web::HttpResponse;
use coffer_auth::Payload;
use coffer_storage::{Encryption, EncryptionMode, EventName, NewObject, Origin, Permission, Versioning, NULL_VERSION};
use serde::Serialize;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct CopyObjectResult {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    last_modified: String,
    #[serde(rename = "ETag")]
    etag: String,
}

pub async fn copy_object(ctx: &Ctx<'_>, bucket_name: &str, key: &str) -> S3Result<HttpResponse> {
    let dest = ctx.bucket_for(bucket_name, Permission::Write).await?;
    let SourceObject { source, bucket: src_bucket, record: src, body: src_body } = load_source(ctx).await?;
    let unsealing = crate::request::sse::for_read(ctx.state, src.meta.encryption.as_ref(), ctx.req.headers(), &crate::request::sse::COPY_SOURCE_CUSTOMER)?;
    let sealing = crate::request::sse::for_write(ctx.state, dest.id, ctx.req.headers()).await?;

    let replace = match ctx.header("x-amz-metadata-directive").map(str::to_ascii_uppercase).as_deref() {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(_) => return Err(S3Error::invalid_argument("Unknown metadata directive.").with("ArgumentName", "x-amz-metadata-directive")),
    };
    // Naming a source version is how a previous version is restored (S3 copies it as it is).
    let same_object = dest.id == src_bucket.id && key == source.key && source.version_id.is_none();
    let changes_class = ctx.header("x-amz-storage-class").is_some();
    let changes_encryption = crate::request::sse::asks_for_encryption(ctx.req.headers());
    if same_object && !replace && !changes_class && !changes_encryption {
        return Err(S3Error::invalid_request(
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    let mut meta = if replace { meta_from_request(ctx.req.headers())? } else { src.meta.clone() };
    // The storage class is the request's (STANDARD when it names none), never the source's.
    meta.storage_class = meta_from_request(ctx.req.headers())?.storage_class;
    meta.checksum = src.meta.checksum.clone();
    // A copy is a new version: its lock is the request's (or the bucket's default), never the source's.
    let lock_params = crate::request::object_lock::LockParams::from_headers(ctx);
    meta.lock = crate::request::object_lock::for_new_version(ctx, &dest, &lock_params, None, coffer_storage::now_ms()).await?;
    // A copy is a new object of its writer: its ACL comes from this request, never the source.
    let (acl, owner_id) = crate::access::ownership::new_object_acl(ctx.state, &dest, ctx.req.headers(), ctx.writer_id()).await?;
    meta.acl = acl;
    meta.tags = match ctx.header("x-amz-tagging-directive").map(str::to_ascii_uppercase).as_deref() {
        None | Some("COPY") => src.meta.tags.clone(),
        Some("REPLACE") => crate::request::upload::tags(ctx)?,
        Some(_) => return Err(S3Error::invalid_argument("Unknown tagging directive.").with("ArgumentName", "x-amz-tagging-directive")),
    };

    // Stored bytes are shared when they stay valid as they are: between two unencrypted
    // objects, and between two SSE-S3 ones (the copy keeps the source's wrapped data key).
    let shares_bytes = match (&src.meta.encryption, &sealing) {
        (None, None) => true,
        (Some(from), Some(to)) => from.mode == EncryptionMode::S3 && to.encryption.mode == EncryptionMode::S3,
        _ => false,
    };
    meta.encryption = match (&sealing, shares_bytes) {
        (Some(to), true) => src.meta.encryption.clone().map(|from| Encryption { bucket_key: to.encryption.bucket_key, ..from }),
        (to, _) => to.as_ref().map(|s| s.encryption.clone()),
    };

    let origin = Origin::new(EventName::ObjectCreatedCopy, ctx.requester());
    let new = NewObject { key: key.to_string(), owner_id, meta, origin };
    let record = match shares_bytes {
        true => ctx.state.store.copy_object(&src, dest.id, new, write_conditions(ctx)).await?,
        false => {
            let plain = ctx.state.store.read_body(&src, &src_body, 0, src.size, unsealing.key.as_ref());
            let mut ingested = ctx.state.store.ingest(plain, ingest_options(&Payload::Unsigned, Vec::new(), sealing.as_ref())).await?;
            if ingested.size != src.size {
                return Err(S3Error::internal(format!("copy source yielded {} of {} bytes", ingested.size, src.size)));
            }
            if let Some(s) = &sealing {
                ingested.md5 = s.etag_md5(ingested.md5);
            }
            ctx.state.store.put_object(&dest, new, ingested, write_conditions(ctx)).await?
        }
    };

    let mut resp = HttpResponse::Ok();
    if let Some(s) = &sealing {
        s.headers(&mut resp);
    }
    if src.version_id != NULL_VERSION || src_bucket.versioning != Versioning::Unversioned {
        resp.insert_header(("x-amz-copy-source-version-id", src.version_id.clone()));
    }
    if record.version_id != NULL_VERSION {
        resp.insert_header(("x-amz-version-id", record.version_id.clone()));
    }
    crate::request::expiration::add(ctx.state, &record, &mut resp).await;
    let body = xml::render(
        "CopyObjectResult",
        &CopyObjectResult { xmlns: xml::S3_NAMESPACE, last_modified: timestamp(record.modified_ms), etag: quoted_etag(&record.etag) },
    )?;
    Ok(resp.content_type("application/xml").body(body))
}
