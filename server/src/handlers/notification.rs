//! Put/GetBucketNotificationConfiguration: the configuration is checked as S3 checks it (its
//! destinations must be targets registered with `coffer admin notify add`) and stored as put,
//! with the routes the storage layer queues each change's events by (`workers::notify`
//! delivers them). A bucket without one answers an empty configuration, as S3 does.

use crate::bucket_config::notification::{NotificationConfiguration, KIND};
use crate::http::body::{read_all, request_body};
use crate::http::error::{ErrorCode, S3Result};
use crate::http::xml;
use crate::request::ctx::Ctx;
use actix_web::{web, HttpResponse};
use coffer_storage::{NotifyRoute, NOTIFY_ROUTES_KIND};

const BODY_LIMIT: usize = 1024 * 1024;

pub async fn put(ctx: &Ctx<'_>, bucket_name: &str, payload: web::Payload) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let body = read_all(request_body(payload, &ctx.payload).stream, BODY_LIMIT, ErrorCode::MalformedXML).await?;
    crate::request::upload::check_payload_hash(&ctx.payload, &body)?;
    crate::request::upload::check_content_md5(ctx, &body)?;
    let mut config: NotificationConfiguration = xml::parse(&body)?;
    let store = &ctx.state.store;
    if config.is_empty() {
        crate::bucket_config::save::<Vec<NotifyRoute>>(store, bucket.id, NOTIFY_ROUTES_KIND, None).await?;
        crate::bucket_config::save::<NotificationConfiguration>(store, bucket.id, KIND, None).await?;
        return Ok(HttpResponse::Ok().finish());
    }
    let targets: Vec<_> = store.notify_targets().await?.into_iter().map(|(t, _)| t).collect();
    let routes = config.validate(&targets)?;
    crate::bucket_config::save(store, bucket.id, NOTIFY_ROUTES_KIND, Some(&routes)).await?;
    crate::bucket_config::save(store, bucket.id, KIND, Some(&config)).await?;
    Ok(HttpResponse::Ok().finish())
}

pub async fn get(ctx: &Ctx<'_>, bucket_name: &str) -> S3Result<HttpResponse> {
    let bucket = ctx.owned_bucket(bucket_name).await?;
    let config: NotificationConfiguration = crate::bucket_config::load(&ctx.state.store, bucket.id, KIND).await?.unwrap_or_default();
    xml::ok("NotificationConfiguration", &NotificationConfiguration { xmlns: xml::S3_NAMESPACE, ..config })
}
