//! The single entry point of every S3 request: assigns the request id, resolves the operation,
//! authenticates, dispatches to the handler, and renders any error as S3's XML error body.

use crate::access::authn::authenticate;
use crate::request::ctx::Ctx;
use crate::http::access_log::Exchange;
use crate::http::body;
use crate::http::error::{ErrorCode, S3Error, S3Result};
use crate::http::limits::{check_headers, hold_until_sent};
use crate::handlers;
use crate::probes;
use crate::http::head::Head;
use crate::http::router::{self, Operation, Query};
use crate::state::AppState;
use crate::http::xml::escape;
use actix_web::http::{ConnectionType, Method};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use tracing::Instrument;

/// Longest object key S3 accepts, in bytes.
const MAX_KEY_LEN: usize = 1024;

pub async fn handle(req: HttpRequest, payload: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let mut exchange = Exchange::new(&req, &state.metrics.requests, new_request_id());
    let place = match state.requests.enter().await {
        Ok(place) => place,
        Err(e) => {
            let resp = with_request_ids(render_error(&e, (&req).into(), &exchange.request_id), &exchange.request_id);
            let status = resp.status().as_u16();
            return hold_until_sent(resp, exchange.answered(status, Some(e.code)));
        }
    };
    let (payload, unread) = body::with_stall_timeout(&req, payload, state.limits.body_timeout, exchange.received.clone()).await;
    let span = tracing::debug_span!("request", id = %exchange.request_id);
    let (mut resp, error_code) = match dispatch(&req, payload, &state, &mut exchange).instrument(span).await {
        Ok(r) => (r, None),
        Err(e) => {
            let mut resp = render_error(&e, (&req).into(), &exchange.request_id);
            // The rest of a body that failed to arrive cannot be told from the next request. A
            // small body refused before it was read is read first: closing a connection with
            // unread bytes resets it, and the client may lose the answer with it.
            let cut = e.code == ErrorCode::RequestTimeout.as_str() || e.code == ErrorCode::IncompleteBody.as_str();
            if cut || !body::drain_refused(&req, unread, state.limits.body_timeout).await {
                resp.head_mut().set_connection_type(ConnectionType::Close);
            }
            (resp, Some(e.code))
        }
    };
    if req.headers().contains_key("origin") && req.method() != Method::OPTIONS {
        if let Ok((bucket, _)) = router::address((&req).into(), state.domain.as_deref()) {
            handlers::cors::decorate(&state, bucket.as_deref(), req.headers(), req.method().as_str(), &mut resp).await;
        }
    }
    let resp = with_request_ids(resp, &exchange.request_id);
    crate::bucket_logs::capture::log_request(&state, &req, &exchange, &resp, error_code).await;
    let status = resp.status().as_u16();
    hold_until_sent(resp, (place, exchange.answered(status, error_code)))
}

/// The answer to `Expect: 100-continue`: the request itself to go on with, or the error
/// response to send instead of `100 Continue`.
pub async fn expect_continue(req: actix_http::Request, state: &AppState) -> Result<actix_http::Request, actix_web::Error> {
    match preflight((&req).into(), state).await {
        Ok(()) => Ok(req),
        Err(e) => {
            let request_id = new_request_id();
            let resp = with_request_ids(render_error(&e, (&req).into(), &request_id), &request_id);
            Err(actix_web::error::InternalError::from_response(e.code, resp).into())
        }
    }
}

fn new_request_id() -> String {
    format!("{:016X}", rand::random::<u64>())
}

/// Every response carries S3's two request identifiers, and names the server.
fn with_request_ids(mut resp: HttpResponse, request_id: &str) -> HttpResponse {
    let headers = resp.headers_mut();
    headers.insert(actix_web::http::header::SERVER, actix_web::http::header::HeaderValue::from_static(crate::http::SERVER_NAME));
    let id2 = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 24]>());
    if let Ok(v) = request_id.parse() {
        headers.insert(actix_web::http::header::HeaderName::from_static("x-amz-request-id"), v);
    }
    if let Ok(v) = id2.parse() {
        headers.insert(actix_web::http::header::HeaderName::from_static("x-amz-id-2"), v);
    }
    resp
}

async fn dispatch(req: &HttpRequest, payload: web::Payload, state: &AppState, exchange: &mut Exchange) -> S3Result<HttpResponse> {
    if let Some(probe) = probes::probe(req.into(), state.domain.as_deref()) {
        exchange.operation = probe.operation();
        return Ok(probes::answer(probe, req, state).await);
    }
    check_headers(req.headers(), state.limits.max_header_count, state.limits.max_header_bytes)?;
    if crate::admin_api::wants(req.into(), state.domain.as_deref()) {
        exchange.operation = crate::metrics::requests::ADMIN;
        return crate::admin_api::handle(req, payload, state).await;
    }
    let (bucket, key) = router::address(req.into(), state.domain.as_deref())?;
    (exchange.bucket, exchange.key) = (bucket.clone(), key.clone());
    let query = Query::parse(req.uri().query().unwrap_or(""));
    let copy_source = req.headers().contains_key("x-amz-copy-source");
    let mut target = crate::request::ctx::Target { action: "", bucket: bucket.clone(), key: key.clone() };
    let op = router::route(req.method(), bucket, key, &query, copy_source)?;
    exchange.operation = (&op).into();
    tracing::debug!(operation = exchange.operation, "routed");
    target.action = op.action(&query);
    // A CORS preflight carries no credentials of its own (a presigned URL's are for another method).
    let auth = match op {
        Operation::CorsPreflight { .. } => crate::access::authn::Authenticated { principal: None, payload: coffer_auth::Payload::Unsigned, access_key: None },
        _ => authenticate(req.into(), state).await?,
    };
    exchange.access_key = auth.access_key;
    exchange.principal = auth.principal.as_ref().map(|p| p.user.name.clone());
    exchange.principal_id = auth.principal.as_ref().map(|p| p.user.id.clone());
    if let Operation::GetObject { key, .. }
    | Operation::HeadObject { key, .. }
    | Operation::PutObject { key, .. }
    | Operation::CopyObject { key, .. }
    | Operation::DeleteObject { key, .. }
    | Operation::CreateMultipartUpload { key, .. } = &op
    {
        if key.len() > MAX_KEY_LEN {
            return Err(S3Error::new(ErrorCode::KeyTooLongError)
                .with("Size", key.len().to_string())
                .with("MaxSizeAllowed", MAX_KEY_LEN.to_string()));
        }
    }
    check_expected_owner(req, state, target.bucket.as_deref()).await?;
    let ctx = Ctx { state, req, query, principal: auth.principal, payload: auth.payload, target, request_id: exchange.request_id.clone(), lock_request: Default::default() };
    use Operation::*;
    match op {
        ListBuckets => handlers::bucket::list_buckets(&ctx).await,
        CreateBucket { bucket } => handlers::bucket::create_bucket(&ctx, &bucket, payload).await,
        DeleteBucket { bucket } => handlers::bucket::delete_bucket(&ctx, &bucket).await,
        HeadBucket { bucket } => handlers::bucket::head_bucket(&ctx, &bucket).await,
        GetBucketLocation { bucket } => handlers::bucket::get_bucket_location(&ctx, &bucket).await,
        GetBucketVersioning { bucket } => handlers::versioning::get_bucket_versioning(&ctx, &bucket).await,
        PutBucketVersioning { bucket } => handlers::versioning::put_bucket_versioning(&ctx, &bucket, payload).await,
        ListObjects { bucket } => handlers::list::list_objects_v1(&ctx, &bucket).await,
        ListObjectsV2 { bucket } => handlers::list::list_objects_v2(&ctx, &bucket).await,
        ListObjectVersions { bucket } => handlers::list::list_object_versions(&ctx, &bucket).await,
        DeleteObjects { bucket } => handlers::delete::delete_objects(&ctx, &bucket, payload).await,
        GetObject { bucket, key } => handlers::get::get_object(&ctx, &bucket, &key, false).await,
        HeadObject { bucket, key } => handlers::get::get_object(&ctx, &bucket, &key, true).await,
        PutObject { bucket, key } => handlers::put::put_object(&ctx, &bucket, &key, payload).await,
        CopyObject { bucket, key } => handlers::copy::copy_object(&ctx, &bucket, &key).await,
        GetObjectTagging { bucket, key } => handlers::tagging::get_object_tagging(&ctx, &bucket, &key).await,
        PutObjectTagging { bucket, key } => handlers::tagging::put_object_tagging(&ctx, &bucket, &key, payload).await,
        DeleteObjectTagging { bucket, key } => handlers::tagging::delete_object_tagging(&ctx, &bucket, &key).await,
        GetBucketTagging { bucket } => handlers::tagging::get_bucket_tagging(&ctx, &bucket).await,
        PutBucketTagging { bucket } => handlers::tagging::put_bucket_tagging(&ctx, &bucket, payload).await,
        DeleteBucketTagging { bucket } => handlers::tagging::delete_bucket_tagging(&ctx, &bucket).await,
        GetBucketEncryption { bucket } => handlers::encryption::get_bucket_encryption(&ctx, &bucket).await,
        PutBucketEncryption { bucket } => handlers::encryption::put_bucket_encryption(&ctx, &bucket, payload).await,
        DeleteBucketEncryption { bucket } => handlers::encryption::delete_bucket_encryption(&ctx, &bucket).await,
        GetBucketLifecycleConfiguration { bucket } => handlers::lifecycle::get(&ctx, &bucket).await,
        PutBucketLifecycleConfiguration { bucket } => handlers::lifecycle::put(&ctx, &bucket, payload).await,
        DeleteBucketLifecycle { bucket } => handlers::lifecycle::delete(&ctx, &bucket).await,
        GetBucketNotificationConfiguration { bucket } => handlers::notification::get(&ctx, &bucket).await,
        PutBucketNotificationConfiguration { bucket } => handlers::notification::put(&ctx, &bucket, payload).await,
        GetBucketReplication { bucket } => handlers::replication::get(&ctx, &bucket).await,
        PutBucketReplication { bucket } => handlers::replication::put(&ctx, &bucket, payload).await,
        DeleteBucketReplication { bucket } => handlers::replication::delete(&ctx, &bucket).await,
        GetBucketCors { bucket } => handlers::cors::get_bucket_cors(&ctx, &bucket).await,
        PutBucketCors { bucket } => handlers::cors::put_bucket_cors(&ctx, &bucket, payload).await,
        DeleteBucketCors { bucket } => handlers::cors::delete_bucket_cors(&ctx, &bucket).await,
        CorsPreflight { bucket } => handlers::cors::preflight(&ctx, &bucket).await,
        GetPublicAccessBlock { bucket } => handlers::public_access::get(&ctx, &bucket).await,
        PutPublicAccessBlock { bucket } => handlers::public_access::put(&ctx, &bucket, payload).await,
        DeletePublicAccessBlock { bucket } => handlers::public_access::delete(&ctx, &bucket).await,
        GetBucketOwnershipControls { bucket } => handlers::ownership::get(&ctx, &bucket).await,
        PutBucketOwnershipControls { bucket } => handlers::ownership::put(&ctx, &bucket, payload).await,
        DeleteBucketOwnershipControls { bucket } => handlers::ownership::delete(&ctx, &bucket).await,
        GetBucketLogging { bucket } => handlers::logging::get_bucket_logging(&ctx, &bucket).await,
        PutBucketLogging { bucket } => handlers::logging::put_bucket_logging(&ctx, &bucket, payload).await,
        GetBucketWebsite { bucket } => handlers::website::get_bucket_website(&ctx, &bucket).await,
        PutBucketWebsite { bucket } => handlers::website::put_bucket_website(&ctx, &bucket, payload).await,
        DeleteBucketWebsite { bucket } => handlers::website::delete_bucket_website(&ctx, &bucket).await,
        GetBucketPolicy { bucket } => handlers::policy::get_bucket_policy(&ctx, &bucket).await,
        PutBucketPolicy { bucket } => handlers::policy::put_bucket_policy(&ctx, &bucket, payload).await,
        DeleteBucketPolicy { bucket } => handlers::policy::delete_bucket_policy(&ctx, &bucket).await,
        GetBucketPolicyStatus { bucket } => handlers::policy::get_bucket_policy_status(&ctx, &bucket).await,
        PostObject { bucket } => handlers::post_object::post_object(&ctx, &bucket, payload).await,
        GetBucketAcl { bucket } => handlers::acl::get_acl(&ctx, &bucket, None).await,
        PutBucketAcl { bucket } => handlers::acl::put_acl(&ctx, &bucket, None, payload).await,
        GetObjectAcl { bucket, key } => handlers::acl::get_acl(&ctx, &bucket, Some(&key)).await,
        PutObjectAcl { bucket, key } => handlers::acl::put_acl(&ctx, &bucket, Some(&key), payload).await,
        DeleteObject { bucket, key } => handlers::delete::delete_object(&ctx, &bucket, &key).await,
        GetObjectAttributes { bucket, key } => handlers::attributes::get_object_attributes(&ctx, &bucket, &key).await,
        ListMultipartUploads { bucket } => handlers::multipart::list_multipart_uploads(&ctx, &bucket).await,
        CreateMultipartUpload { bucket, key } => handlers::multipart::create_multipart_upload(&ctx, &bucket, &key).await,
        UploadPart { bucket, key } => handlers::multipart::upload_part(&ctx, &bucket, &key, payload).await,
        UploadPartCopy { bucket, key } => handlers::multipart::upload_part_copy(&ctx, &bucket, &key).await,
        CompleteMultipartUpload { bucket, key } => handlers::multipart::complete_multipart_upload(&ctx, &bucket, &key, payload).await,
        AbortMultipartUpload { bucket, key } => handlers::multipart::abort_multipart_upload(&ctx, &bucket, &key).await,
        ListParts { bucket, key } => handlers::multipart::list_parts(&ctx, &bucket, &key).await,
        RestoreObject { bucket, key } => handlers::restore::restore_object(&ctx, &bucket, &key, payload).await,
        GetObjectLockConfiguration { bucket } => handlers::object_lock::get_configuration(&ctx, &bucket).await,
        PutObjectLockConfiguration { bucket } => handlers::object_lock::put_configuration(&ctx, &bucket, payload).await,
        GetObjectRetention { bucket, key } => handlers::object_lock::get_retention(&ctx, &bucket, &key).await,
        PutObjectRetention { bucket, key } => handlers::object_lock::put_retention(&ctx, &bucket, &key, payload).await,
        GetObjectLegalHold { bucket, key } => handlers::object_lock::get_legal_hold(&ctx, &bucket, &key).await,
        PutObjectLegalHold { bucket, key } => handlers::object_lock::put_legal_hold(&ctx, &bucket, &key, payload).await,
        GetBucketUsage { bucket } => handlers::usage::get_bucket_usage(&ctx, &bucket).await,
        NotImplemented { name } => {
            Err(S3Error::new(ErrorCode::NotImplemented).with_message(format!("{name} is not implemented by Coffer yet.")))
        }
    }
}

/// What a request that sent `Expect: 100-continue` must pass before its body is invited: it is
/// authenticated, and a write names a bucket that exists and the caller may write to. So a
/// client learns of a refusal before it sends a large body.
pub async fn preflight(head: Head<'_>, state: &AppState) -> S3Result<()> {
    check_headers(head.headers, state.limits.max_header_count, state.limits.max_header_bytes)?;
    if crate::admin_api::wants(head, state.domain.as_deref()) {
        // Its small JSON bodies are read whole; the handler authenticates.
        return Ok(());
    }
    let (bucket, key) = router::address(head, state.domain.as_deref())?;
    let auth = authenticate(head, state).await?;
    let query = Query::parse(head.uri.query().unwrap_or(""));
    let copy_source = head.headers.contains_key("x-amz-copy-source");
    let op = router::route(head.method, bucket, key, &query, copy_source)?;
    // Only uploads into an existing bucket are checked here; everything else (CreateBucket
    // included, whose conflicts have their own errors) is decided by its handler.
    let bucket = match &op {
        Operation::PutObject { bucket, .. } => {
            crate::request::upload::checked_put_length(head.headers, &auth.payload)?;
            bucket
        }
        Operation::UploadPart { bucket, .. } => bucket,
        _ => return Ok(()),
    };
    let b = state.store.bucket(bucket).await.map_err(S3Error::from)?;
    let caller = auth.principal.as_ref().map(|p| &p.user);
    // A bucket policy (with its conditions on the whole request) is left to the handler.
    if caller.is_some_and(|u| u.id == b.owner.id) || state.policies.load(&state.store, b.id).await?.is_some() {
        return Ok(());
    }
    let grants = crate::request::ctx::bucket_grants(state, b.id).await?;
    let grants = crate::access::public_access::effective(state, b.id, &grants).await?;
    if crate::access::acl::allows(&b.owner.id, &grants, caller, coffer_storage::Permission::Write) {
        Ok(())
    } else {
        Err(S3Error::new(ErrorCode::AccessDenied))
    }
}

/// x-amz-expected-bucket-owner: the request goes ahead only if the bucket belongs to that
/// account (a guard against writing to a bucket someone else re-created).
async fn check_expected_owner(req: &HttpRequest, state: &AppState, bucket: Option<&str>) -> S3Result<()> {
    let (Some(expected), Some(bucket)) = (req.headers().get("x-amz-expected-bucket-owner"), bucket) else { return Ok(()) };
    match state.store.bucket(bucket).await {
        Ok(b) if expected.as_bytes() == b.owner.id.as_bytes() => Ok(()),
        Ok(_) => Err(S3Error::new(ErrorCode::AccessDenied)),
        // A missing bucket is reported by the handler.
        Err(_) => Ok(()),
    }
}

/// S3's error response: the XML body (none for HEAD and 304), the status, and the request id.
pub fn render_error(e: &S3Error, head: Head<'_>, request_id: &str) -> HttpResponse {
    let mut resp = HttpResponse::build(e.status);
    for (name, value) in &e.headers {
        resp.insert_header((*name, value.clone()));
    }
    if head.method == Method::HEAD || e.status.as_u16() == 304 {
        return resp.finish();
    }
    let resource = e.resource.clone().unwrap_or_else(|| head.uri.path().to_string());
    let mut body = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>");
    body.push_str(&format!("<Code>{}</Code><Message>{}</Message>", e.code, escape(&e.message)));
    for (name, value) in &e.extra {
        body.push_str(&format!("<{name}>{}</{name}>", escape(value)));
    }
    body.push_str(&format!("<Resource>{}</Resource><RequestId>{request_id}</RequestId></Error>", escape(&resource)));
    resp.content_type("application/xml").body(body)
}
