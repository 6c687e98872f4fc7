// Automation rules and their run log. Part of `ops.rs` (included at its
// end, so it shares its `Db`/`Conn` types and helpers); kept in its own
// file only to keep that one readable.

use switchboard_core::automation::{AutomationRule, Rule, RuleRun, RunOutcome, Trigger};

pub(crate) const RULE_COLUMNS: &str = "id, name, enabled, position, trigger_kind, definition, created_at, updated_at";

/// Also maps SQLite's synchronous reads (`sqlite_reads.rs`).
pub(crate) fn rule_row(r: &impl crate::cols::Cols) -> Result<AutomationRule> {
    let text = r.text("definition")?;
    let mut rule: Rule = serde_json::from_str(&text).map_err(|_| corrupt("definition", &text))?;
    // The columns are what queries filter on, so they are the truth.
    rule.name = r.text("name")?;
    rule.enabled = r.flag("enabled")?;
    rule.trigger = parse("trigger_kind", r.text("trigger_kind")?, Trigger::parse)?;
    Ok(AutomationRule {
        id: RuleId(r.i64("id")?),
        rule,
        position: r.i64("position")?,
        created_at: ts(r.i64("created_at")?),
        updated_at: ts(r.i64("updated_at")?),
    })
}

fn rule_json(rule: &Rule) -> Result<String> {
    serde_json::to_string(rule).map_err(|e| StoreError::Database(sqlx::Error::Encode(Box::new(e))))
}

/// Appends the rule after the workspace's others.
pub async fn create_rule(c: &mut Conn, ws: WorkspaceId, rule: &Rule, now: Timestamp) -> Result<AutomationRule> {
    let r = sqlx::query(&format!(
        "INSERT INTO automation_rules (workspace_id, name, enabled, position, trigger_kind, definition, created_at, updated_at)
         VALUES ($1, $2, $3, (SELECT COALESCE(MAX(position), 0) + 1 FROM automation_rules WHERE workspace_id = $1), $4, $5, $6, $6)
         RETURNING {RULE_COLUMNS}"
    ))
    .bind(ws.0)
    .bind(&rule.name)
    .bind(rule.enabled)
    .bind(rule.trigger.as_str())
    .bind(rule_json(rule)?)
    .bind(now.0)
    .fetch_one(&mut *c)
    .await?;
    rule_row(&r)
}

/// In the order they run.
pub async fn list_rules(c: &mut Conn, ws: WorkspaceId) -> Result<Vec<AutomationRule>> {
    let rows = sqlx::query(&format!("SELECT {RULE_COLUMNS} FROM automation_rules WHERE workspace_id = $1 ORDER BY position, id"))
        .bind(ws.0)
        .fetch_all(&mut *c)
        .await?;
    rows.iter().map(rule_row).collect()
}

/// The enabled rules listening to `trigger`, in the order they run.
pub async fn rules_for_trigger(c: &mut Conn, ws: WorkspaceId, trigger: Trigger) -> Result<Vec<AutomationRule>> {
    let rows = sqlx::query(&format!(
        "SELECT {RULE_COLUMNS} FROM automation_rules WHERE workspace_id = $1 AND trigger_kind = $2 AND enabled = $3 ORDER BY position, id"
    ))
    .bind(ws.0)
    .bind(trigger.as_str())
    .bind(true)
    .fetch_all(&mut *c)
    .await?;
    rows.iter().map(rule_row).collect()
}

pub async fn get_rule(c: &mut Conn, ws: WorkspaceId, id: RuleId) -> Result<Option<AutomationRule>> {
    let r = sqlx::query(&format!("SELECT {RULE_COLUMNS} FROM automation_rules WHERE workspace_id = $1 AND id = $2"))
        .bind(ws.0)
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?;
    r.as_ref().map(rule_row).transpose()
}

/// Replaces the definition; `position` moves it when given.
pub async fn update_rule(
    c: &mut Conn,
    ws: WorkspaceId,
    id: RuleId,
    rule: &Rule,
    position: Option<i64>,
    now: Timestamp,
) -> Result<AutomationRule> {
    let done = sqlx::query(
        "UPDATE automation_rules SET name = $1, enabled = $2, trigger_kind = $3, definition = $4,
                position = COALESCE($5, position), updated_at = $6
          WHERE workspace_id = $7 AND id = $8",
    )
    .bind(&rule.name)
    .bind(rule.enabled)
    .bind(rule.trigger.as_str())
    .bind(rule_json(rule)?)
    .bind(position)
    .bind(now.0)
    .bind(ws.0)
    .bind(id.0)
    .execute(&mut *c)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    get_rule(c, ws, id).await?.ok_or(StoreError::NotFound)
}

/// Removes the rule; its runs stay in the log.
pub async fn delete_rule(c: &mut Conn, ws: WorkspaceId, id: RuleId) -> Result<()> {
    let done = sqlx::query("DELETE FROM automation_rules WHERE workspace_id = $1 AND id = $2")
        .bind(ws.0)
        .bind(id.0)
        .execute(&mut *c)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

const RUN_COLUMNS: &str = "id, rule_id, rule_name, conversation_id, trigger_kind, outcome, detail, created_at";

fn run_row(r: &DbRow) -> Result<RuleRun> {
    Ok(RuleRun {
        id: RuleRunId(r.try_get("id")?),
        rule_id: RuleId(r.try_get("rule_id")?),
        rule_name: r.try_get("rule_name")?,
        conversation_id: r.try_get::<Option<i64>, _>("conversation_id")?.map(ConversationId),
        trigger: parse("trigger_kind", r.try_get("trigger_kind")?, Trigger::parse)?,
        outcome: parse("outcome", r.try_get("outcome")?, RunOutcome::parse)?,
        detail: r.try_get("detail")?,
        created_at: ts(r.try_get("created_at")?),
    })
}

pub async fn record_rule_run(c: &mut Conn, ws: WorkspaceId, run: &NewRuleRun, now: Timestamp) -> Result<RuleRun> {
    // The run names a rule and a conversation of this workspace only.
    if get_rule(c, ws, run.rule_id).await?.is_none() {
        return Err(StoreError::NotFound);
    }
    if let Some(conv) = run.conversation_id {
        let found = sqlx::query("SELECT 1 FROM conversations WHERE workspace_id = $1 AND id = $2")
            .bind(ws.0)
            .bind(conv.0)
            .fetch_optional(&mut *c)
            .await?;
        if found.is_none() {
            return Err(StoreError::NotFound);
        }
    }
    let r = sqlx::query(&format!(
        "INSERT INTO automation_runs (workspace_id, rule_id, rule_name, conversation_id, trigger_kind, outcome, detail, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {RUN_COLUMNS}"
    ))
    .bind(ws.0)
    .bind(run.rule_id.0)
    .bind(&run.rule_name)
    .bind(run.conversation_id.map(|x| x.0))
    .bind(run.trigger.as_str())
    .bind(run.outcome.as_str())
    .bind(&run.detail)
    .bind(now.0)
    .fetch_one(&mut *c)
    .await?;
    run_row(&r)
}

/// Newest first; one rule's runs, or the whole workspace's.
pub async fn list_rule_runs(c: &mut Conn, ws: WorkspaceId, rule: Option<RuleId>, page: Page) -> Result<Paged<RuleRun>> {
    let mut qb = QueryBuilder::<Db>::new(format!("SELECT {RUN_COLUMNS} FROM automation_runs"));
    qb.push(" WHERE workspace_id = ").push_bind(ws.0);
    if let Some(rule) = rule {
        qb.push(" AND rule_id = ").push_bind(rule.0);
    }
    if let Some(after) = page.after {
        qb.push(" AND id < ").push_bind(after.id);
    }
    qb.push(" ORDER BY id DESC LIMIT ").push_bind(page.limit + 1);
    let rows = qb.build().fetch_all(&mut *c).await?;
    let mut items = rows.iter().map(run_row).collect::<Result<Vec<_>>>()?;
    let next = cut_page(&mut items, page.limit, |x| Cursor { key: 0, id: x.id.0 });
    Ok(Paged { items, next })
}

pub async fn get_template(c: &mut Conn, ws: WorkspaceId, id: TemplateId) -> Result<Option<Template>> {
    let r = sqlx::query("SELECT id, name, content FROM templates WHERE workspace_id = $1 AND id = $2")
        .bind(ws.0)
        .bind(id.0)
        .fetch_optional(&mut *c)
        .await?;
    r.as_ref().map(template_row).transpose()
}
