//! Routing: the workspace's team-selection rules, the live queues, and an
//! agent's answer to an offer.

use crate::auth::Ctx;
use crate::dto::ListOf;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::router::{OfferAnswer, TeamQueue};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use switchboard_core::routing::team_select::RoutingRules;
use switchboard_core::*;

#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/routing/rules", tag = "routing",
    responses((status = 200, body = RoutingRules), (status = 403, body = ErrorBody)))]
pub async fn get_rules(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<RoutingRules>> {
    ctx.require(Role::Supervisor)?;
    Ok(Json(st.store.get_routing_rules(ctx.ws()).await?))
}

/// Replaces the team-selection rules (first match wins) and the inbox
/// default teams.
#[utoipa::path(put, path = "/api/v1/workspaces/{workspace_id}/routing/rules", tag = "routing", request_body = RoutingRules,
    responses((status = 200, body = RoutingRules), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn put_rules(State(st): State<AppState>, ctx: Ctx, ApiJson(rules): ApiJson<RoutingRules>) -> ApiResult<Json<RoutingRules>> {
    ctx.require(Role::Admin)?;
    rules.check()?;
    let written = st.store.set_routing_rules(ctx.ws(), rules, st.now()).await?;
    st.publish(written.events);
    Ok(Json(written.value))
}

/// Who waits in each team's queue, in order, and whom they are offered to.
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/routing/queues", tag = "routing",
    responses((status = 200, body = ListOf<TeamQueue>), (status = 403, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn queues(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<ListOf<TeamQueue>>> {
    ctx.require(Role::Supervisor)?;
    let data = st.router.queues(ctx.ws()).await.ok_or(ApiError::Unavailable)?;
    Ok(Json(ListOf { data }))
}

/// What is offered to you right now (to show it again after a reload).
#[utoipa::path(get, path = "/api/v1/workspaces/{workspace_id}/routing/offers", tag = "routing",
    responses((status = 200, body = ListOf<OfferView>), (status = 503, body = ErrorBody)))]
pub async fn my_offers(State(st): State<AppState>, ctx: Ctx) -> ApiResult<Json<ListOf<OfferView>>> {
    let offers = st.router.offers(ctx.ws(), ctx.user()).await.ok_or(ApiError::Unavailable)?;
    let data = offers
        .into_iter()
        .map(|o| OfferView { conversation_id: o.conversation_id, agent_id: o.agent_id, team_id: o.team_id, expires_at: o.expires_at })
        .collect();
    Ok(Json(ListOf { data }))
}

/// An offer to the caller: accept or decline before `expires_at`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct OfferView {
    pub conversation_id: ConversationId,
    pub agent_id: UserId,
    pub team_id: TeamId,
    pub expires_at: Timestamp,
}

async fn answer(st: &AppState, ctx: &Ctx, conversation: i64, accept: bool) -> ApiResult<()> {
    let id = ConversationId(conversation);
    st.store.get_conversation(ctx.ws(), id).await?.ok_or(ApiError::NotFound)?;
    match st.router.answer(ctx.ws(), id, ctx.user(), accept).await {
        OfferAnswer::Done => Ok(()),
        OfferAnswer::NotOffered => Err(ApiError::Conflict {
            code: "offer_not_found",
            message: "this conversation is not offered to you (it expired or someone else took it)".into(),
        }),
        OfferAnswer::Unavailable => Err(ApiError::Unavailable),
    }
}

/// Takes a conversation offered to you; answers with it, now yours.
#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}/offer/accept", tag = "routing",
    responses((status = 200, body = Conversation), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn accept(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<Json<Conversation>> {
    answer(&st, &ctx, path.1, true).await?;
    let conv = st.store.get_conversation(ctx.ws(), ConversationId(path.1)).await?.ok_or(ApiError::NotFound)?;
    Ok(Json(conv))
}

/// Passes on an offered conversation: it moves on to the next agent.
#[utoipa::path(post, path = "/api/v1/workspaces/{workspace_id}/conversations/{conversation_id}/offer/decline", tag = "routing",
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn decline(State(st): State<AppState>, ctx: Ctx, ApiPath(path): ApiPath<(i64, i64)>) -> ApiResult<StatusCode> {
    answer(&st, &ctx, path.1, false).await?;
    Ok(StatusCode::NO_CONTENT)
}
